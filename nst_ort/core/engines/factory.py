"""Choose and build an engine by name."""

from __future__ import annotations

from nst_base.errors import NstError
from nst_base.model_store import ExportedModel
from nst_ort.core.engines.base import Engine, LossInputs
from nst_ort.options.choices import CPU, ENGINE_CHOICES, ENGINES, check_conv, check_supported



def available_engines() -> tuple[str, ...]:
    """The engines this installation can run (training needs onnxruntime-training-cpu)."""
    from nst_ort.platform import ort_training

    return ENGINES if ort_training.available() else ("portable",)


def resolve_engine(name: str) -> str:
    """`auto` is the portable engine: it runs everywhere, and on the CPU here it took about
    two thirds of the training engine's time and memory per evaluation (bench/compare.py)."""
    if name == "auto":
        return "portable"
    if name not in ENGINES:
        raise NstError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_CHOICES)}")
    return name


def make_engine(name: str, model: ExportedModel, inputs: LossInputs, shape: tuple[int, int],
                threads: int = 0, provider: str = CPU, conv: str = "direct") -> Engine:
    """An engine for images of `shape` (H, W) with the given targets and weights, its 3x3
    convolutions run as `conv` says (the portable and tiled engines'; the training engine's are
    direct). A style loss other than the Gram's runs on the two-pass engine over one
    whole-image tile (its gradient needs the whole image's statistics first)."""
    name = resolve_engine(name)
    check_supported(inputs.style_loss, name, provider)
    check_conv(conv, name)
    if inputs.style_loss != "gram":
        from nst_ort.core.engines.tiled import TiledEngine, whole_image_layout

        layout = whole_image_layout(*shape, model.manifest.net, inputs.layers.all)
        return TiledEngine(model, inputs, layout, threads, conv=conv)
    if name == "training":
        if provider != CPU:
            raise NstError("the training engine runs on the CPU only")
        from nst_ort.core.engines.training import TrainingEngine

        return TrainingEngine(model, inputs, shape, threads)
    from nst_ort.core.engines.portable import PortableEngine

    return PortableEngine(model, inputs, shape, threads, provider=provider, conv=conv)
