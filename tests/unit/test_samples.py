"""The committed samples must be what the oslo generators make now."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ETC = os.path.join(ROOT, 'etc', 'agentsched')


@pytest.mark.parametrize('generator,config,sample', [
    ('oslo_config.generator', 'agentsched-config-generator.conf',
     'agentsched.conf.sample'),
    ('oslo_policy.generator', 'agentsched-policy-generator.conf',
     'policy.yaml.sample'),
])
def test_sample_is_current(tmp_path, generator, config, sample):
    out = tmp_path / sample
    module = [sys.executable, '-c',
              'import sys; from %s import %s as main; sys.exit(main())' % (
                  generator, 'main' if 'config' in generator
                  else 'generate_sample')]
    subprocess.run(module + ['--config-file', os.path.join(ETC, config),
                             '--output-file', str(out)],
                   check=True, cwd=ROOT, capture_output=True)
    with open(os.path.join(ETC, sample)) as committed:
        assert out.read_text() == committed.read(), (
            'etc/agentsched/%s is stale: regenerate it from %s' % (
                sample, config))
