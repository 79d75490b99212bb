"""agentsched-server asks glibc for one malloc arena, unless the
environment chose (cmd/server._one_malloc_arena)."""

import ctypes
import ctypes.util

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
    assert _calls(monkeypatch) == [(server_cmd._M_ARENA_MAX, 1)]


def test_the_environment_chooses_when_set(monkeypatch):
    monkeypatch.setenv('MALLOC_ARENA_MAX', '4')
    assert _calls(monkeypatch) == []


def test_the_real_libc_takes_it(monkeypatch):
    """On this (glibc) machine the call itself succeeds."""
    monkeypatch.delenv('MALLOC_ARENA_MAX', raising=False)
    libc = ctypes.CDLL(ctypes.util.find_library('c'))
    assert libc.mallopt(server_cmd._M_ARENA_MAX, 1) == 1
