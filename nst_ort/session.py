"""onnxruntime session settings shared by every engine and the feature extractor."""

from __future__ import annotations

import os

import onnxruntime as ort


def resolved_threads(threads: int = 0) -> int:
    """`threads`, or every core when 0."""
    return threads if threads > 0 else (os.cpu_count() or 1)


def session_options(threads: int = 0) -> ort.SessionOptions:
    """Intra-op threads = `threads` (0: every core), sequential graph execution."""
    ort.set_default_logger_severity(3)  # errors only: onnxruntime's info chatter is not for users
    options = ort.SessionOptions()
    options.intra_op_num_threads = resolved_threads(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options
