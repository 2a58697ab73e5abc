"""Process-wide memory settings for the long-running commands (`clarion serve`, `clarion worker`).

glibc's malloc, left to its defaults, makes a long-lived threaded server hold memory it has
freed: every thread that allocates may get its own arena (up to 8 per core), each keeping its
free pages, and its mmap threshold grows with every large block freed (up to 32 MiB), after
which large buffers (DuckDB's blocks, big query results, a batch of built messages) come from
the arenas instead of their own mappings, and stay resident after they are freed (about 15 MB
of a 200,000-endpoint campaign's peak, bench/campaign.py). `tune_allocator` caps the arenas and
fixes the mmap threshold (which also stops its growth), so freed large blocks go back to the
system at once. A setting given in the environment (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`,
`MALLOC_TRIM_THRESHOLD_`, read by glibc itself) is left as given. Elsewhere than glibc (musl,
macOS) it does nothing.

Collections of the youngest generation: a campaign allocates a few container objects per
message (dicts, lists, dataclasses) that live until the next page, so at CPython's default
(700) the collector runs every few hundred messages and keeps walking the same live batch.
`GC_THRESHOLDS` runs it fourteen times less often; a generation-0 collection then finds up to
10,000 new objects, a few megabytes at most."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # <malloc.h>
ARENA_MAX = 2  # arenas the threads share (glibc's default: 8 per core)
MMAP_THRESHOLD = 128 * 2**10  # glibc's initial value, kept fixed: larger blocks are mapped and unmapped
TRIM_THRESHOLD = MMAP_THRESHOLD  # free memory at the top of the heap kept for reuse
GC_THRESHOLDS = (10_000, 10, 10)


def tune_allocator() -> bool:
    """Apply the malloc settings above; True when this is glibc and it took them. Call it before
    the service starts its threads (an arena, once made, stays)."""
    libc = _glibc()
    if libc is None:
        return False
    taken = [libc.mallopt(option, value) == 1 for option, value in allocator_settings(os.environ)]
    return all(taken)


def allocator_settings(environ) -> list[tuple[int, int]]:
    """(mallopt option, value) for each setting the environment does not give."""
    settings = (("MALLOC_ARENA_MAX", M_ARENA_MAX, ARENA_MAX),
                ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return [(option, value) for variable, option, value in settings if variable not in environ]


def tune_collector() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def _glibc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 -- only glibc has it (and mallopt's options above)
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc
