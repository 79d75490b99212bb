"""agentsched-server asks glibc for one malloc arena, unless the
environment chose (cmd/server._one_malloc_arena)."""

import ctypes
import subprocess
import sys

import pytest

from agentsched.cmd import server as server_cmd


class _Libc:
    def __init__(self, calls):
        self.calls = calls

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return 1


def _calls(monkeypatch):
    calls = []
    monkeypatch.setattr(ctypes, 'CDLL', lambda name: _Libc(calls))
    server_cmd._one_malloc_arena()
    return calls


def test_one_arena_by_default(monkeypatch):
    monkeypatch.delenv('MALLOC_ARENA_MAX', raising=False)
    monkeypatch.delenv('GLIBC_TUNABLES', raising=False)
    assert _calls(monkeypatch) == [(server_cmd._M_ARENA_MAX, 1)]


@pytest.mark.parametrize('name, value', [
    ('MALLOC_ARENA_MAX', '4'),
    ('GLIBC_TUNABLES', 'glibc.malloc.arena_max=4:glibc.malloc.trim_threshold=0')])
def test_the_environment_chooses_when_set(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert _calls(monkeypatch) == []


def test_the_real_libc_takes_it():
    """On this (glibc) machine mallopt accepts the parameter (in a process
    of its own: the setting is for the process)."""
    code = ('import ctypes; from agentsched.cmd import server; '
            'print(ctypes.CDLL(None).mallopt(server._M_ARENA_MAX, 1))')
    assert subprocess.run([sys.executable, '-c', code], check=True,
                          capture_output=True, text=True).stdout == '1\n'
