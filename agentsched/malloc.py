"""glibc's malloc, set for a long-running server (agentsched-server calls
configure() first thing)."""

import ctypes
import os

# glibc's mallopt() parameters: the number of malloc arenas, and the size
# from which a block is mapped on its own (and unmapped when freed).
_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3

# glibc's initial threshold, kept: glibc raises it after a large block is
# freed, up to 32 MB.
MMAP_THRESHOLD = 128 * 1024


def configure():
    """glibc's malloc as a long-running server needs it, for the process
    and its workers (inherited at the fork); each setting unless the
    environment (MALLOC_..._ or GLIBC_TUNABLES) chose it. Not glibc:
    nothing to do.

    - One arena: glibc gives each thread that allocates an arena of its
      own, and each of the API's threads kept the memory of the largest
      response it had served (the full agent list at 100,000 agents:
      305-348 MB after ten lists, 198 MB with one arena, same CPU).
    - A fixed mmap threshold: with glibc's moving one, the large blocks of
      every placement snapshot read (its columns, a few MB each) came from
      the heap once an earlier one was freed, and stayed there: at 100,000
      agents three reads left 145 MB where the first had 103 (103 with a
      fixed threshold). Its price: such blocks are fresh pages each time
      (the full agent list at 100,000 agents cost 0.84 s of CPU against
      0.71, in the same time).
    docs/benchmarks.md has the figures.
    """
    tunables = {item.partition('=')[0] for item in
                os.environ.get('GLIBC_TUNABLES', '').split(':')}
    settings = [(parameter, value) for parameter, value, variable, tunable in (
        (_M_ARENA_MAX, 1, 'MALLOC_ARENA_MAX', 'glibc.malloc.arena_max'),
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD, 'MALLOC_MMAP_THRESHOLD_',
         'glibc.malloc.mmap_threshold'))
        if variable not in os.environ and tunable not in tunables]
    if not settings:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    for parameter, value in settings:
        mallopt(parameter, value)   # best effort: refused, glibc's default
