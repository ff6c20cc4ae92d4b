"""Exported model folders: find them, check they are intact, cache per-size artifacts."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import onnx

from nst_base.checksums import sha256_file
from nst_base.errors import NstError
from nst_base.files import atomic_dir
from nst_base.manifest import FEATURES, Manifest, default_models_dir  # noqa: F401 (where models live)

CACHE = "cache"
CACHE_ENTRIES = 12  # per-size training artifacts kept; the oldest are removed first


@dataclass(frozen=True)
class ExportedModel:
    folder: Path
    manifest: Manifest

    @property
    def features_path(self) -> Path:
        return self.folder / FEATURES

    @property
    def layers(self) -> dict[str, int]:
        return self.manifest.layers

    def load_features(self) -> onnx.ModelProto:
        return onnx.load(str(self.features_path))

    def cached_artifacts(self, key: str, build) -> Path:
        """Folder `cache/<key>`, built by `build(tmp_folder)` on first use."""
        folder = self.folder / CACHE / key
        if not folder.is_dir():
            with atomic_dir(folder, keep_existing=True) as tmp:
                try:
                    build(tmp)
                except RuntimeError as error:  # native writers report a full disk this way
                    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                    raise NstError(f"cannot write {folder}: {first_line}") from None
            _evict_oldest(self.folder / CACHE, keep=CACHE_ENTRIES)
        os.utime(folder)
        return folder


def _evict_oldest(cache: Path, keep: int) -> None:
    entries = sorted((p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in entries[keep:]:
        shutil.rmtree(stale, ignore_errors=True)


def open_model(folder: Path) -> ExportedModel:
    """The exported model in `folder`, checked against its manifest."""
    manifest = Manifest.read(folder)
    for name, digest in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise NstError(f"{path} is missing: run `nst export --net {manifest.net} --force`")
        if sha256_file(path) != digest:
            raise NstError(f"{path} does not match its manifest (changed or corrupt): "
                           f"run `nst export --net {manifest.net} --force`")
    return ExportedModel(folder, manifest)


def cache_key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
