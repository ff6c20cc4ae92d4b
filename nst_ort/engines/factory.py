"""Choose and build an engine by name."""

from __future__ import annotations

from nst_ort.engines.base import Engine, LossInputs
from nst_ort.errors import NstError
from nst_ort.model_store import ExportedModel

ENGINES = ("training", "portable")
CPU = "CPUExecutionProvider"


def make_engine(name: str, model: ExportedModel, inputs: LossInputs, shape: tuple[int, int],
                threads: int = 0, provider: str = CPU) -> Engine:
    """An engine for images of `shape` (H, W) with the given targets and weights."""
    if name == "training":
        if provider != CPU:
            raise NstError("the training engine runs on the CPU only")
        from nst_ort.engines.training import TrainingEngine

        return TrainingEngine(model, inputs, shape, threads)
    if name == "portable":
        from nst_ort.engines.portable import PortableEngine

        return PortableEngine(model, inputs, shape, threads, provider=provider)
    raise NstError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
