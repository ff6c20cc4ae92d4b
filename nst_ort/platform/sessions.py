"""onnxruntime session settings shared by every engine and the feature extractor."""

from __future__ import annotations

import functools

import onnxruntime as ort

from nst_base.cores import usable_cores


def resolved_threads(threads: int = 0) -> int:
    """`threads` capped to the cores (more only slows the run down, and onnxruntime would try to
    start every one of them), or every core when 0 (nst_base.cores: $NST_CORES overrides the count)."""
    cores = usable_cores()
    return min(threads, cores) if threads > 0 else cores


@functools.cache
def _register_shared_cpu_arena() -> None:
    """One CPU arena for the process that grows by what is asked, not to the next power of two.

    onnxruntime's default arena doubles its chunks: the gradient model's peak at 800x600 then
    took 2.3-2.4 GiB of RSS; growing by the size requested took 1.3-1.5 GiB at the same speed
    (within noise, 2 threads). Registration is process-wide in onnxruntime, hence the cache.
    """
    memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    same_as_requested = 1
    ort.create_and_register_allocator(memory, ort.OrtArenaCfg(0, same_as_requested, -1, -1))


def session_options(threads: int = 0, shared_arena: bool = False) -> ort.SessionOptions:
    """Intra-op threads = `threads` (0: every core), sequential graph execution; with
    `shared_arena`, the session allocates from the process's tight-growing CPU arena."""
    ort.set_default_logger_severity(3)  # errors only: onnxruntime's info chatter is not for users
    options = ort.SessionOptions()
    options.intra_op_num_threads = resolved_threads(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # no memory pattern: from the second run on, onnxruntime 1.16 and 1.20+ allocate the planned
    # pattern as one more block beside what the arena already holds, +60% of the session's peak
    # (bench/memory_model.py); without it every version stays at its first run's peak, at the same speed
    options.enable_mem_pattern = False
    if shared_arena:
        _register_shared_cpu_arena()
        options.add_session_config_entry("session.use_env_allocators", "1")
    return options


def shrink_arena_options() -> ort.RunOptions:
    """Run options that hand the CPU arena's wholly free regions back to the system after the
    run: the shared arena otherwise keeps the largest memory it ever held (a whole untiled
    level's activations, several GB at 1500 px) for the rest of the process."""
    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options
