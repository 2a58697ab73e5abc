"""The long-running commands' process settings (clarion/runtime/memory.py): malloc gives freed
large blocks back to the system, and young-generation collections are rarer after start-up.
Each check runs in a child process, so this test process keeps its own settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from clarion.runtime import memory


def run_python(code: str, env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# Frees a 4 MiB block (at glibc's defaults that raises the mmap threshold to 4 MiB), then
# allocates 64 MiB in 256 KiB blocks and frees all but the last (which pins the heap's top).
# Prints how much of those 64 MiB stayed resident, in MiB.
RETAINED = """
    import ctypes, re
    from clarion.runtime import memory
    print(memory.tune_allocator() if TUNE else "untuned")
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    def anon():
        return int(re.search(r"RssAnon:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024
    libc.free(libc.malloc(4 << 20))
    before = anon()
    blocks = [libc.malloc(256 << 10) for _ in range(256)]
    for block in blocks:
        ctypes.memset(block, 1, 256 << 10)
    for block in blocks[:-1]:
        libc.free(block)
    print(anon() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or memory._glibc() is None, reason="glibc only")
def test_freed_large_blocks_go_back_to_the_system():
    tuned, retained = run_python("TUNE = True\n" + textwrap.dedent(RETAINED)).splitlines()
    assert tuned == "True"
    assert int(retained) < 8  # of 64 MiB freed
    untuned, retained = run_python("TUNE = False\n" + textwrap.dedent(RETAINED)).splitlines()
    assert int(retained) > 48  # glibc's defaults keep them: what the tuning is for


def test_settings_given_in_the_environment_are_left_as_given():
    assert len(memory.allocator_settings({})) == 3
    kept = memory.allocator_settings({"MALLOC_ARENA_MAX": "4"})
    assert (memory.M_ARENA_MAX, memory.ARENA_MAX) not in kept and len(kept) == 2
    assert memory.allocator_settings({"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": "1",
                                      "MALLOC_TRIM_THRESHOLD_": "1"}) == []


def test_start_up_freezes_the_heap_and_makes_young_collections_rarer():
    out = run_python("""
        import gc
        from clarion.service import freeze_startup_heap
        default = gc.get_threshold()
        freeze_startup_heap()
        print(default, gc.get_threshold(), gc.get_freeze_count() > 0)
    """)
    assert out == f"(700, 10, 10) {memory.GC_THRESHOLDS} True"


def test_worker_once_runs_after_tuning_its_process(tmp_path):
    env = {"CLARION_DATA_DIR": str(tmp_path), "CLARION_LOG_LEVEL": "warning"}
    result = subprocess.run([sys.executable, "-m", "clarion", "worker", "--once"], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ran 0 job(s)" in result.stdout
