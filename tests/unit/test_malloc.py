"""agentsched-server sets glibc's malloc for a long-running server (one
arena, a fixed mmap threshold), each setting unless the environment chose
it (agentsched/malloc.py)."""

import ctypes
import platform
import subprocess
import sys

import pytest

from agentsched import malloc

ONE_ARENA = (malloc._M_ARENA_MAX, 1)
FIXED_THRESHOLD = (malloc._M_MMAP_THRESHOLD, malloc.MMAP_THRESHOLD)


class _Libc:
    def __init__(self, calls):
        self.calls = calls

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return 1


def _calls(monkeypatch):
    calls = []
    monkeypatch.setattr(ctypes, 'CDLL', lambda name: _Libc(calls))
    malloc.configure()
    return calls


@pytest.fixture
def clean_environment(monkeypatch):
    for name in ('MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_',
                 'GLIBC_TUNABLES'):
        monkeypatch.delenv(name, raising=False)


def test_both_by_default(monkeypatch, clean_environment):
    assert _calls(monkeypatch) == [ONE_ARENA, FIXED_THRESHOLD]


@pytest.mark.parametrize('name, value, left', [
    ('MALLOC_ARENA_MAX', '4', [FIXED_THRESHOLD]),
    ('MALLOC_MMAP_THRESHOLD_', '1048576', [ONE_ARENA]),
    ('GLIBC_TUNABLES',
     'glibc.malloc.arena_max=4:glibc.malloc.trim_threshold=0',
     [FIXED_THRESHOLD]),
    ('GLIBC_TUNABLES',
     'glibc.malloc.arena_max=4:glibc.malloc.mmap_threshold=65536', [])])
def test_the_environment_chooses_what_it_sets(monkeypatch, clean_environment,
                                              name, value, left):
    monkeypatch.setenv(name, value)
    assert _calls(monkeypatch) == left


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc',
                    reason='glibc\'s mallopt only')
def test_the_real_libc_takes_them():
    """On this (glibc) machine mallopt accepts both parameters (in a
    process of its own: the settings are the process's)."""
    code = ('import ctypes; from agentsched import malloc; '
            'm = ctypes.CDLL(None).mallopt; '
            'print(m(malloc._M_ARENA_MAX, 1), '
            'm(malloc._M_MMAP_THRESHOLD, malloc.MMAP_THRESHOLD))')
    assert subprocess.run([sys.executable, '-c', code], check=True,
                          capture_output=True, text=True).stdout == '1 1\n'
