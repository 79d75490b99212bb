"""The layers' import rules hold (pyproject.toml [tool.importlinter])."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
# In a child process: import-linter's command line changes the logging of
# the process it runs in, which would hide later tests' log records.
LINT = ('import sys; from importlinter import cli; '
        "sys.exit(cli.lint_imports(config_filename='pyproject.toml', "
        'no_cache=True))')


def test_import_rules_hold():
    result = subprocess.run([sys.executable, '-c', LINT], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
