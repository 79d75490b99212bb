"""agentsched-server sets glibc's malloc for a long-running server (one
arena, fixed mmap and trim thresholds), each setting unless the
environment chose it (agentsched/malloc.py)."""

import ctypes
import platform
import subprocess
import sys

import pytest

from agentsched import malloc

ONE_ARENA = (malloc._M_ARENA_MAX, 1)
FIXED_THRESHOLD = (malloc._M_MMAP_THRESHOLD, malloc.MMAP_THRESHOLD)
FIXED_TRIM = (malloc._M_TRIM_THRESHOLD, malloc.TRIM_THRESHOLD)


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
                 'MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES'):
        monkeypatch.delenv(name, raising=False)


def test_all_by_default(monkeypatch, clean_environment):
    assert _calls(monkeypatch) == [ONE_ARENA, FIXED_THRESHOLD, FIXED_TRIM]


@pytest.mark.parametrize('name, value, left', [
    ('MALLOC_ARENA_MAX', '4', [FIXED_THRESHOLD, FIXED_TRIM]),
    ('MALLOC_MMAP_THRESHOLD_', '1048576', [ONE_ARENA, FIXED_TRIM]),
    ('MALLOC_TRIM_THRESHOLD_', '0', [ONE_ARENA, FIXED_THRESHOLD]),
    ('GLIBC_TUNABLES',
     'glibc.malloc.arena_max=4:glibc.malloc.trim_threshold=0',
     [FIXED_THRESHOLD]),
    ('GLIBC_TUNABLES',
     'glibc.malloc.arena_max=4:glibc.malloc.mmap_threshold_x=1',
     [FIXED_THRESHOLD, FIXED_TRIM]),
    ('GLIBC_TUNABLES',
     'glibc.malloc.arena_max=4:glibc.malloc.mmap_threshold=65536:'
     'glibc.malloc.trim_threshold=0', [])])
def test_the_environment_chooses_what_it_sets(monkeypatch, clean_environment,
                                              name, value, left):
    monkeypatch.setenv(name, value)
    assert _calls(monkeypatch) == left


# What glibc does; another C library (or an allocator preloaded) has its own.
glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc',
                                reason='glibc\'s malloc only')


@glibc_only
def test_the_real_libc_takes_them():
    """On this (glibc) machine mallopt accepts every parameter (in a
    process of its own: the settings are the process's)."""
    code = ('import ctypes; from agentsched import malloc; '
            'm = ctypes.CDLL(None).mallopt; '
            'print(m(malloc._M_ARENA_MAX, 1), '
            'm(malloc._M_MMAP_THRESHOLD, malloc.MMAP_THRESHOLD), '
            'm(malloc._M_TRIM_THRESHOLD, malloc.TRIM_THRESHOLD))')
    assert subprocess.run([sys.executable, '-c', code], check=True,
                          capture_output=True, text=True).stdout == '1 1 1\n'


# The full list's pieces as api/listing.stream writes them: STREAM_PIECE
# agents of about 1.3 KB (the benchmark fleet's), then 2.6 KB, serialized
# and sliced 200 times; the page faults that costs.
_PIECES = """
import resource, sys, orjson
from agentsched import malloc
from agentsched.api import listing
malloc.configure()
faults = []
for size in (1150, 2600):
    rows = [{'id': '%036d' % i, 'configurations': {'x': 'y' * size}}
            for i in range(listing.STREAM_PIECE)]
    orjson.dumps(rows)[1:-1]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):
        orjson.dumps(rows)[1:-1]
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""


@glibc_only
def test_a_streamed_lists_pieces_reuse_the_heap(clean_environment):
    """Each piece of a streamed list (130-260 KB) comes from the heap and
    goes back to it: neither a mapping of its own nor the heap's top given
    back and faulted in again, 32-64 pages each (the full list of 100,000
    agents cost 0.84 s of CPU against 0.71 with glibc's defaults)."""
    faults = subprocess.run([sys.executable, '-c', _PIECES], check=True,
                            capture_output=True, text=True).stdout.split()
    assert [int(f) < 200 for f in faults] == [True, True], faults
