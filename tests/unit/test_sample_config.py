"""The committed sample config must be what oslo-config-generator makes now."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
GENERATOR_CONF = os.path.join(ROOT, 'etc', 'agentsched',
                              'agentsched-config-generator.conf')
SAMPLE = os.path.join(ROOT, 'etc', 'agentsched', 'agentsched.conf.sample')


def test_sample_is_current(tmp_path):
    out = tmp_path / 'agentsched.conf.sample'
    subprocess.run(
        [sys.executable, '-m', 'oslo_config.generator', '--config-file',
         GENERATOR_CONF, '--output-file', str(out)],
        check=True, cwd=ROOT, capture_output=True)
    with open(SAMPLE) as committed:
        assert out.read_text() == committed.read(), (
            'etc/agentsched/agentsched.conf.sample is stale: run '
            'oslo-config-generator --config-file %s' % GENERATOR_CONF)
