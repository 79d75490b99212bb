"""glibc's malloc, set for a long-running server (agentsched-server calls
configure() first thing)."""

import ctypes
import os

# glibc's mallopt() parameters: the number of malloc arenas, the size
# from which a block is mapped on its own (and unmapped when freed), and
# how much free memory the top of the heap keeps before it is given back.
_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1

# Fixed: glibc raises its moving one after a large block is freed, up to
# 32 MB. Above a streamed list's pieces (api/listing.STREAM_PIECE agents,
# about 130 KB; up to about 400 KB, agents of 4 KB, since the serializer's
# buffer grows past what it holds): at glibc's initial 128 KiB each piece
# was a mapping of its own, 32 fresh pages.
# Below the placement snapshot's columns (800 KB and more at 100,000
# agents).
MMAP_THRESHOLD = 512 * 1024

# A fixed mmap threshold fixes glibc's trim threshold too, at its initial
# 128 KiB (glibc's moving one is twice the mmap threshold): the top of the
# heap was then given back and faulted in again for each piece. 8 MiB holds
# a server's transient blocks (pieces, their copies, a batch of rows) and
# is nothing beside its 400 MB.
TRIM_THRESHOLD = 8 * 1024 * 1024


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
      fixed threshold).
    - A trim threshold to go with it (fixing one fixes both). With both at
      glibc's initial 128 KiB, each piece of a streamed list was mapped,
      or the heap's top given back and faulted in again: the full list of
      100,000 agents cost 0.84 s of CPU against 0.71 with glibc's moving
      thresholds.
    docs/benchmarks.md has the figures.
    """
    tunables = {item.partition('=')[0] for item in
                os.environ.get('GLIBC_TUNABLES', '').split(':')}
    settings = [(parameter, value) for parameter, value, variable, tunable in (
        (_M_ARENA_MAX, 1, 'MALLOC_ARENA_MAX', 'glibc.malloc.arena_max'),
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD, 'MALLOC_MMAP_THRESHOLD_',
         'glibc.malloc.mmap_threshold'),
        (_M_TRIM_THRESHOLD, TRIM_THRESHOLD, 'MALLOC_TRIM_THRESHOLD_',
         'glibc.malloc.trim_threshold'))
        if variable not in os.environ and tunable not in tunables]
    if not settings:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    for parameter, value in settings:
        mallopt(parameter, value)   # best effort: refused, glibc's default
