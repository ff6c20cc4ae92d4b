"""onnxruntime-training artifacts of the loss graph: the image is the only trainable parameter."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import onnx

from nst_graphs.features import IMAGE
from nst_ort.platform import ort_training

TRAINING_MODEL = "training_model.onnx"
EVAL_MODEL = "eval_model.onnx"
CHECKPOINT = "checkpoint"


@contextlib.contextmanager
def silenced_native_output() -> Iterator[None]:
    """Point file descriptors 1 and 2 at /dev/null for native code that ignores log settings."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    sink = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(sink, 1)
        os.dup2(sink, 2)
        yield
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(sink)


def write_training_artifacts(loss_model: onnx.ModelProto, folder: Path) -> None:
    """Write training model, eval model and checkpoint of `loss_model` into `folder`.

    `loss_model` must hold the image as a fixed-shape initializer (build_loss_model with
    image_shape); its first output is the scalar that gets differentiated.
    """
    artifacts = ort_training.load("artifacts")
    frozen = [init.name for init in loss_model.graph.initializer if init.name != IMAGE]
    folder.mkdir(parents=True, exist_ok=True)
    with silenced_native_output():  # the gradient builder logs every graph transformer
        artifacts.generate_artifacts(loss_model, requires_grad=[IMAGE], frozen_params=frozen,
                                     loss=None, artifact_directory=str(folder))


def artifact_paths(folder: Path) -> tuple[Path, Path, Path]:
    return folder / TRAINING_MODEL, folder / EVAL_MODEL, folder / CHECKPOINT


