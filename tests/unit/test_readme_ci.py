"""CI must run the very test command the README gives a new user."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_ci_runs_the_readme_test_command():
    with open(os.path.join(ROOT, 'README.md')) as readme:
        text = readme.read()
    section = text.split('## Run the tests', 1)[1]
    command = re.search(r'```sh\n(.+?)\n```', section).group(1)
    assert 'pytest' in command
    with open(os.path.join(ROOT, '.ci', 'run')) as ci:
        assert command in ci.read().splitlines()
