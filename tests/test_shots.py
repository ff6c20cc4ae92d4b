"""`nst video --workers N`: a clip's shots found at its cuts and stylised in parallel, the output
assembled in order with every frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

from nst_base.errors import NstError  # noqa: E402
from nst_ort.video.frames import Window, probe, read_frames  # noqa: E402
from nst_ort.video.shots import cuts_from_seconds, find_cuts, shot_windows  # noqa: E402
from tests.helpers import one_line_error, nst  # noqa: E402
from tests.test_video import texture, write_test_clip  # noqa: E402
from tests.tiny import random_images  # noqa: E402

TINTS = ((1.0, 0.6, 0.5), (0.5, 1.0, 0.6), (0.6, 0.5, 1.0))


def three_shots(per_shot: int = 4) -> list[np.ndarray]:
    """Three panning shots of different textures and colour casts."""
    frames = []
    for shot, tint in enumerate(TINTS):
        big = texture(48 + 16, 64 + 16, seed=shot * 7 + 1)
        for k in range(per_shot):
            frames.append(np.ascontiguousarray((big[k:k + 48, 2 * k:2 * k + 64] * np.array(tint)).astype(np.uint8)))
    return frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_test_clip(tmp_path_factory.mktemp("shots") / "cuts.mp4", three_shots(), fps=10)


def test_cuts_are_found_where_the_picture_changes(clip):
    info = probe(clip)
    assert find_cuts(info, Window()) == [4, 8]
    assert find_cuts(info, Window(start=0.0, duration=0.35)) == []  # within one shot


def test_shots_cover_the_window_frame_for_frame(clip):
    info = probe(clip)
    window = Window()
    shots = shot_windows(window, 10.0, 12, [4, 8])
    frames = [frame for shot in shots for frame in read_frames(info, shot, info.size)]
    whole = list(read_frames(info, window, info.size))
    assert len(frames) == len(whole) == 12
    assert all(np.array_equal(a, b) for a, b in zip(frames, whole))
    assert cuts_from_seconds([0.4, 0.8], window, 10.0, 12) == [4, 8]
    with pytest.raises(NstError, match="--cuts must lie inside"):
        cuts_from_seconds([5.0], window, 10.0, 12)


def test_shots_in_parallel_write_every_frame(tiny_models_dir, clip, tmp_path):
    style = random_images(tmp_path, {"style": (40, 40)})["style"]
    args = ["--size", "48", "--iterations", "3", "--frame-iterations", "2", "--threads", "1"]
    result = nst("video", clip, style, "-o", tmp_path / "frames", *args, "--workers", "2", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert "3 shots" in result.stderr and result.stderr.count(": 4 frames") == 3
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 12
    assert not (tmp_path / "frames.nst-run").exists()
    given = nst("video", clip, style, "-o", tmp_path / "given.gif", *args, "--cuts", "0.8", models_dir=tiny_models_dir)
    assert given.returncode == 0 and "2 shots" in given.stderr, given.stderr
    assert probe(tmp_path / "given.gif").frame_count(Window()) == 12
    one_line_error(nst("video", clip, style, "-o", tmp_path / "x.gif", *args, "--cuts", "9", models_dir=tiny_models_dir),
                    "--cuts must lie inside")


@pytest.mark.cluster
def test_shots_on_a_dask_cluster_write_every_frame(tiny_models_dir, cluster, clip, tmp_path):
    style = random_images(tmp_path, {"style": (40, 40)})["style"]
    args = ["--size", "48", "--iterations", "3", "--frame-iterations", "2", "--threads", "1"]
    result = nst("video", clip, style, "-o", tmp_path / "out.gif", *args, "--cluster", cluster.scheduler_address,
                 models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert "2 workers, 3 shots" in result.stderr and result.stderr.count(": 4 frames") == 3
    assert probe(tmp_path / "out.gif").frame_count(Window()) == 12 and not (tmp_path / "out.gif.nst-run").exists()
