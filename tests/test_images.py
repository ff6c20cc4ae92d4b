"""Image loading handles every mode and orientation; writing is atomic."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst_base.errors import NstError
from nst_ort.io.images import fit_long_side, load_image, save_image, to_array, to_image
from tests.helpers import declared_png


def _gradient(width: int = 40, height: int = 30) -> np.ndarray:
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    return np.stack([x, y, 255 - x], axis=2).astype(np.uint8)


def test_rgb_roundtrip(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(_gradient()).save(path)
    pixels = to_array(load_image(path))
    assert pixels.shape == (3, 30, 40) and pixels.dtype == np.float32
    assert 0.0 <= pixels.min() and pixels.max() <= 1.0
    np.testing.assert_array_equal(np.asarray(to_image(pixels)), _gradient())


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "1"])
def test_modes_become_rgb(tmp_path, mode):
    path = tmp_path / ("m.tif" if mode == "CMYK" else "m.png")
    Image.fromarray(_gradient()).convert(mode).save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (40, 30)


def test_transparency_goes_on_white(tmp_path):
    path = tmp_path / "t.png"
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(path)
    assert load_image(path).getpixel((3, 3)) == (255, 255, 255)


def test_16_bit_gray_is_rescaled_not_clipped(tmp_path):
    path = tmp_path / "g16.png"
    values = np.linspace(0, 65535, 64 * 4).reshape(4, 64).astype(np.uint16)
    Image.fromarray(values).save(path)
    image = load_image(path)
    gray = np.asarray(image)[..., 0]
    assert gray.min() == 0 and gray.max() == 255
    assert len(np.unique(gray)) > 100  # a real ramp, not a saturated 0/255 image


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    Image.fromarray(_gradient(40, 30)).save(path, exif=exif)
    assert load_image(path).size == (30, 40)


def test_missing_corrupt_and_non_images(tmp_path):
    with pytest.raises(NstError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(NstError, match="not an image"):
        load_image(text)
    good = tmp_path / "good.jpg"
    Image.fromarray(_gradient(200, 150)).save(good, quality=95)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(NstError, match="corrupt or truncated"):
        load_image(truncated)


def test_pixel_limit(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    with pytest.raises(NstError, match="above the"):
        load_image(path, limit=300 * 200 - 1)
    assert load_image(path, limit=None).size == (300, 200)


def test_fit_long_side():
    assert fit_long_side((1024, 768), 512) == (512, 384)
    assert fit_long_side((768, 1024), 512) == (384, 512)
    assert fit_long_side((10, 1000), 100) == (1, 100)


def test_save_is_atomic_and_creates_folders(tmp_path):
    target = tmp_path / "new" / "out.png"
    save_image(to_image(np.full((3, 5, 6), 0.5, np.float32)), target)
    assert Image.open(target).size == (6, 5)
    assert [p.name for p in target.parent.iterdir()] == ["out.png"]  # no temp file left behind


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    save_image(to_image(np.zeros((3, 4, 4), np.float32)), target)
    before = target.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(NstError, match="no space left"):
        save_image(to_image(np.ones((3, 4, 4), np.float32)), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_a_file_declaring_more_pixels_than_memory_is_not_decoded(tmp_path, monkeypatch):
    import nst_ort.io.images as images

    path = tmp_path / "bomb.png"
    declared_png(path, 13000, 13000)  # 1.3 GB decoded (under the 179 MP ceiling), 60 bytes on disk
    monkeypatch.setattr(images, "available_bytes", lambda: 2**30)
    with pytest.raises(NstError, match=r"declares 13000x13000 pixels: decoding it needs about 1.3 GB, more than the 1.0 GB"):
        load_image(path, limit=None)
    declared_png(path, 30000, 30000)  # 7 GB: above the ceiling whatever is free
    monkeypatch.setattr(images, "available_bytes", lambda: 2**40)
    with pytest.raises(NstError, match=r"declares 30000x30000 pixels \(900 MP\): too large"):
        load_image(path, limit=None)


def test_available_memory_is_what_the_os_says(monkeypatch):
    import psutil

    from nst_ort.platform.memory import available_bytes

    assert 0 < available_bytes() <= psutil.virtual_memory().total
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("Memory", (), {"available": 12345678 * 1024})())
    assert available_bytes() == 12345678 * 1024
