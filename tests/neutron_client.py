"""A virtualenv with the real Neutron, for tests that run its agent code.

Neutron cannot go into the project's venv (its pins clash with ours), so it
gets a venv of its own, made once (about 140 s on a clean machine) and reused
while it works. It lives in the user's cache, not in the work tree, so that
every clone on this machine (CI's fresh one included) shares it: its name
carries a hash of the requirement and of the Python it is built on, so a
change of either builds a new one. A lock file makes concurrent test
processes wait for the one that builds it; the venv counts as made only once
a marker naming the requirement is written, so a build that died half-way is
redone, and so is one that no longer runs (its Python gone).
"""

import contextlib
import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys

REQUIREMENT = 'neutron==29.0.0'
INSTALL_TIMEOUT = 1200


def venv_path(cache_home=None):
    """Where the venv for REQUIREMENT on this Python lives: under
    $XDG_CACHE_HOME (else ~/.cache), outside any clone."""
    cache_home = cache_home or os.environ.get('XDG_CACHE_HOME') or \
        os.path.join(os.path.expanduser('~'), '.cache')
    # A venv runs on the interpreter it was made from: the key names it.
    base = os.path.realpath(getattr(sys, '_base_executable', sys.executable))
    key = hashlib.sha256('\n'.join(
        [REQUIREMENT, base, platform.python_version()]).encode()).hexdigest()
    return os.path.join(cache_home, 'agentsched', 'neutron-venv-' + key[:16])


VENV = venv_path()
LOCK = VENV + '.lock'
MARKER = os.path.join(VENV, 'agentsched-requirement.txt')


class Unavailable(RuntimeError):
    """Neutron could not be installed; str() says why."""


def python():
    """The path of the Neutron venv's python, made first if need be."""
    with _locked():
        if not _works():
            _build()
    return _python()


def _python():
    return os.path.join(VENV, 'bin', 'python')


@contextlib.contextmanager
def _locked():
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    with open(LOCK, 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _works():
    try:
        with open(MARKER) as marker:
            if marker.read().strip() != REQUIREMENT:
                return False
    except OSError:
        return False
    return _run([_python(), '-c', 'import importlib.metadata as m; '
                 'print(m.version("neutron"))'],
                timeout=60).stdout.strip() == REQUIREMENT.split('==')[1]


def _run(args, timeout):
    try:
        return subprocess.run(args, capture_output=True, text=True,
                              timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(args, -1, '', str(exc))


def _build():
    shutil.rmtree(VENV, ignore_errors=True)
    steps = [
        ('python -m venv', [sys.executable, '-m', 'venv', VENV]),
        ('pip install', [_python(), '-m', 'pip', 'install', '--quiet',
                         REQUIREMENT]),
        # Installed is not enough: the agent side must import.
        ('import', [_python(), '-c',
                    'import neutron.agent.rpc, neutron.common.config']),
    ]
    for step, args in steps:
        result = _run(args, INSTALL_TIMEOUT)
        if result.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            output = (result.stderr or result.stdout).strip()
            raise Unavailable('could not make a venv with %s at %s (%s '
                              'failed): %s' % (REQUIREMENT, VENV, step,
                                               output[-2000:]))
    with open(MARKER, 'w') as marker:
        marker.write(REQUIREMENT + '\n')
