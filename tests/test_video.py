"""nst video: flow, warping and occlusion on analytic cases, the temporal term's gradient, clip
round trips, bad inputs, and whole runs (interrupted and continued) on tiny nets."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

import av  # noqa: E402

from nst_base.errors import NstError  # noqa: E402
from nst_ort.core.engines.base import EngineBase, Evaluation  # noqa: E402
from nst_ort.video.flow import optical_flow, reliable, warp  # noqa: E402
from nst_ort.video.frames import Window, output_kind, probe, read_frames, write_clip  # noqa: E402
from nst_ort.video.temporal import TemporalEngine  # noqa: E402
from tests.helpers import one_line_error, nst  # noqa: E402


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture (uint8): trackable by optical flow."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    noise = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    return np.asarray(noise.filter(ImageFilter.GaussianBlur(2)))


def pan_frames(count: int, size: tuple[int, int] = (64, 48), step: tuple[int, int] = (2, 1)) -> list[np.ndarray]:
    """A camera pan over a texture: frame k is the window shifted by k * step."""
    width, height = size
    big = texture(height + count * step[1] + 1, width + count * step[0] + 1)
    return [big[k * step[1]:k * step[1] + height, k * step[0]:k * step[0] + width].copy() for k in range(count)]


def write_test_clip(path: Path, frames: list[np.ndarray], fps: int = 10, audio_seconds: float = 0.0) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=44100) if audio_seconds else None
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts, picture.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
        if sound is not None:
            samples = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(44100 * audio_seconds)) / 44100)).astype(np.float32)
            for offset in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(samples[None, offset:offset + 1024], format="flt", layout="mono")
                chunk.sample_rate, chunk.pts = 44100, offset
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


# --- warping, flow, occlusion ---------------------------------------------------------------

def test_warping_along_a_constant_flow_shifts_the_image():
    rng = np.random.default_rng(0)
    image = rng.random((3, 20, 30)).astype(np.float32)
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0], flow[..., 1] = -3, 2  # pixel (x, y) takes image(x - 3, y + 2)
    warped = warp(image, flow)
    np.testing.assert_allclose(warped[:, :-2, 3:], image[:, 2:, :-3], atol=1e-6)
    flow[..., 0], flow[..., 1] = 0.25, 0.0  # a quarter pixel: linear between neighbours
    np.testing.assert_allclose(warp(image, flow)[:, :, :-1], 0.75 * image[:, :, :-1] + 0.25 * image[:, :, 1:], atol=1e-6)


def test_the_forward_backward_check_finds_the_uncovered_strip_and_what_left_the_frame():
    height, width, move = 40, 60, 4
    backward, forward = np.zeros((height, width, 2), np.float32), np.zeros((height, width, 2), np.float32)
    top, left, side = 10, 20, 16  # a square that moves `move` px to the right over a still background
    forward[top:top + side, left:left + side, 0] = move  # frame t-1: the square at `left`
    backward[top:top + side, left + move:left + move + side, 0] = -move  # frame t: the square at left + move
    mask = reliable(backward, forward)
    assert mask[top + 2:top + side - 2, left + move + 2:left + move + side - 2].min() == 1  # the square: traced
    assert mask[top:top + side, left:left + move].max() == 0  # the background it uncovered: no past
    assert mask[:5].min() == 1 and mask[:, -10:].min() == 1  # still background far away
    leaving = np.zeros((height, width, 2), np.float32)
    leaving[..., 0] = -5  # everything came from 5 px to the left: the first 5 columns from outside
    inside = reliable(leaving, -leaving)
    assert inside[:, :5].max() == 0 and inside[:, 6:].min() == 1


def test_optical_flow_recovers_a_pan():
    first, second = pan_frames(2, (96, 64), step=(3, 2))
    flow = optical_flow(second, first)  # frame 1's pixels were 3 px right and 2 down of ... in frame 0
    centre = flow[16:-16, 16:-16].reshape(-1, 2)
    np.testing.assert_allclose(np.median(centre, axis=0), [3.0, 2.0], atol=0.3)
    warped = warp(first.transpose(2, 0, 1).astype(np.float32), flow)
    error = np.abs(warped - second.transpose(2, 0, 1))[:, 8:-8, 8:-8].mean()
    assert error < 0.2 * np.abs(first.astype(np.float32) - second).mean()


# --- the temporal term ------------------------------------------------------------------------

class Quadratic(EngineBase):
    """A stand-in engine: sum((x - 0.5)^2) with its exact gradient."""

    name = "quadratic"

    def evaluate(self, pixels: np.ndarray) -> Evaluation:
        return Evaluation(float(np.sum((pixels - 0.5) ** 2)), {"q": 0.0}, (2 * (pixels - 0.5)).astype(np.float32))


def test_the_temporal_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    warped, pixels = rng.random((2, 3, 8, 10)).astype(np.float32)
    mask = (rng.random((8, 10)) > 0.3).astype(np.float32)
    engine = TemporalEngine(Quadratic(), warped, mask, weight=7.0)
    result = engine.evaluate(pixels.astype(np.float64))
    value, grad = engine.term(pixels.astype(np.float64))
    assert result.terms["temporal"] == pytest.approx(value) and value > 0
    step = 1e-4
    for index in [tuple(rng.integers(0, n) for n in pixels.shape) for _ in range(12)]:
        plus, minus = pixels.astype(np.float64), pixels.astype(np.float64)
        plus[index] += step
        minus[index] -= step
        numeric = (engine.evaluate(plus).loss - engine.evaluate(minus).loss) / (2 * step)
        assert result.grad[index] == pytest.approx(numeric, rel=1e-3, abs=1e-6)
    masked_out = np.argwhere(mask == 0)[0]
    assert grad[(0, *masked_out)] == 0  # occluded pixels are free


def test_the_temporal_term_adds_to_a_real_engine(tiny_models_dir):
    from nst_base.model_store import open_model
    from nst_ort.core.engines.factory import make_engine
    from nst_ort.core.engines.features import FeatureExtractor
    from nst_ort.core.targets import LossWeights, loss_inputs
    from nst_ort.options.stylize import StylizeOptions

    model = open_model(tiny_models_dir / "vgg16")
    rng = np.random.default_rng(2)
    content, style, warped, pixels = rng.random((4, 3, 32, 48)).astype(np.float32)
    inputs = loss_inputs(FeatureExtractor(str(model.features_path)), content, [style], [1.0],
                         LossWeights.of(StylizeOptions()))
    inner = make_engine("portable", model, inputs, (32, 48), threads=1)
    mask = np.ones((32, 48), np.float32)
    both = TemporalEngine(inner, warped, mask, 50.0).evaluate(pixels)
    alone = inner.evaluate(pixels)
    value, grad = TemporalEngine(inner, warped, mask, 50.0).term(pixels)
    assert both.loss == pytest.approx(alone.loss + value, rel=1e-6)
    np.testing.assert_allclose(both.grad, alone.grad + grad, rtol=1e-6, atol=1e-9)


# --- clips in and out -------------------------------------------------------------------------

def test_clips_round_trip_as_video_gif_and_folder(tmp_path):
    frames = pan_frames(12)
    source = write_test_clip(tmp_path / "in.mp4", frames, fps=10, audio_seconds=1.2)
    info = probe(source)
    assert (info.fps, info.size, info.has_audio) == (10.0, (64, 48), True)
    read = list(read_frames(info, Window(), info.size))
    assert len(read) == 12 and read[0].shape == (48, 64, 3)
    assert np.abs(read[5].astype(float) - frames[5]).mean() < 6  # lossy, but the same picture
    for name, fps, audio in (("out.mp4", 10.0, True), ("out.webm", 10.0, True), ("out.gif", 10.0, False),
                             ("frames", 24.0, False)):
        write_clip(read, tmp_path / name, info.fps, (info, Window()))
        back = probe(tmp_path / name)
        assert (back.fps, back.size, back.has_audio) == (fps, (64, 48), audio), name
        assert len(list(read_frames(back, Window(), back.size))) == 12, name
    assert not list(tmp_path.glob(".*"))  # written under a temporary name, then renamed: nothing left over


def test_a_window_picks_its_slice_at_its_rate(tmp_path):
    source = write_test_clip(tmp_path / "in.mp4", pan_frames(20), fps=10)
    info = probe(source)
    assert len(list(read_frames(info, Window(start=0.5, duration=1.0), (32, 24)))) == 10
    assert len(list(read_frames(info, Window(fps=5), (32, 24)))) == 10
    assert len(list(read_frames(info, Window(start=1.5, fps=20), (32, 24)))) == 10
    first = next(read_frames(info, Window(start=0.5), info.size))
    assert np.abs(first.astype(float) - list(read_frames(info, Window(), info.size))[5]).max() == 0
    with pytest.raises(NstError, match="--fps"):
        Window(fps=0).validate()


def test_bad_clips_and_outputs_get_one_line(tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(NstError, match="not a video"):
        probe(tmp_path / "notes.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NstError, match="no frames"):
        probe(tmp_path / "empty")
    with pytest.raises(NstError, match="does not exist"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(NstError, match="write a video"):
        output_kind(tmp_path / "out.txt")


# --- whole runs -------------------------------------------------------------------------------

@pytest.fixture
def small_clip(tmp_path) -> Path:
    return write_test_clip(tmp_path / "clip.mp4", pan_frames(4, (64, 48), step=(2, 1)), fps=8, audio_seconds=0.5)


@pytest.fixture
def style_image(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "style.png"
    Image.fromarray(texture(40, 40, seed=5)).save(path)
    return path


def test_nst_video_writes_every_frame_with_the_sound(tiny_models_dir, small_clip, style_image, tmp_path):
    out, report = tmp_path / "out.mp4", tmp_path / "report.json"
    result = nst("video", small_clip, style_image, "-o", out, "--size", "64", "--iterations", "6",
                 "--frame-iterations", "4", "--threads", "1", "--report", report, models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert "frame 4/4" in result.stderr
    info = probe(out)
    assert (info.size, info.fps, info.has_audio) == ((64, 48), 8.0, True)
    assert len(list(read_frames(info, Window(), info.size))) == 4
    data = json.loads(report.read_text())
    assert data["frames"] == 4 and len(data["per_frame"]) == 4 and data["later_frame_seconds"] > 0
    assert all(frame["temporal"] > 0 for frame in data["per_frame"][1:])
    assert not (tmp_path / "out.mp4.nst-run").exists()  # the finished run's frames are gone


def test_an_interrupted_video_continues_where_it_stopped(tiny_models_dir, small_clip, style_image, tmp_path):
    from PIL import Image

    from nst_base.model_store import open_model
    from nst_ort.jobs.run_folder import RunFolder
    from nst_ort.options.stylize import StylizeOptions
    from nst_ort.video.run import VideoJob, VideoOptions, VideoRunner

    model = open_model(tiny_models_dir / "vgg16")
    job = VideoJob(small_clip, (style_image,), tmp_path / "out.gif", StylizeOptions(size=64, iterations=5, threads=1),
                   VideoOptions(frame_iterations=3))
    styles = [Image.open(style_image).convert("RGB")]
    folder = RunFolder(tmp_path / "out.gif.nst-run")

    def stop_after_two(line: str) -> None:
        if line.startswith("frame 2/"):
            raise KeyboardInterrupt

    first = VideoRunner(job, model, styles, folder, say=stop_after_two)
    assert first.run().interrupted and first.finished() == 2
    with pytest.raises(NstError, match="in use by another nst-ort run"):  # while the first holds the output
        VideoRunner(job, model, styles, folder)
    first.release()  # as its process ending would
    lines: list[str] = []
    second = VideoRunner(job, model, styles, folder, say=lines.append)
    result = second.run()
    assert not result.interrupted and [r.index for r in result.frames] == [2, 3]
    assert lines[0] == "continuing: 2 of 4 frames were done"
    second.assemble()
    second.release()
    assert probe(tmp_path / "out.gif").size == (64, 48) and not folder.path.exists()
    other = VideoJob(small_clip, (style_image,), tmp_path / "out.gif", StylizeOptions(size=64, iterations=9, threads=1))
    third = VideoRunner(other, model, styles, folder, say=stop_after_two)
    third.run()
    third.release()
    with pytest.raises(NstError, match="another run: add --restart"):
        VideoRunner(job, model, styles, folder)


def test_nst_video_refuses_bad_input_in_one_line(tiny_models_dir, small_clip, style_image, tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    one_line_error(nst("video", tmp_path / "notes.mp4", style_image, "-o", tmp_path / "o.mp4",
                        models_dir=tiny_models_dir), "not a video")
    (tmp_path / "none").mkdir()
    one_line_error(nst("video", tmp_path / "none", style_image, "-o", tmp_path / "o.mp4",
                        models_dir=tiny_models_dir), "has no frames")
    one_line_error(nst("video", small_clip, style_image, "-o", tmp_path / "o.txt",
                        models_dir=tiny_models_dir), "write a video")
    (tmp_path / "a_file").write_text("")
    one_line_error(nst("video", small_clip, style_image, "-o", tmp_path / "a_file" / "o.mp4", "--size", "64",
                        models_dir=tiny_models_dir), "o.mp4")
    one_line_error(nst("video", small_clip, style_image, "-o", tmp_path / "o.mp4", "--start", "30",
                        models_dir=tiny_models_dir), "no frames between")
    one_line_error(nst("video", small_clip, style_image, "-o", small_clip, models_dir=tiny_models_dir),
                    "is one of the inputs")


def test_without_the_extra_nst_video_names_it(tmp_path, small_clip, style_image, tiny_models_dir):
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "av.py").write_text("raise ImportError('no av here')\n")  # as if PyAV were not installed
    result = subprocess.run([sys.executable, "-m", "cli", "video", str(small_clip), str(style_image), "-o",
                             str(tmp_path / "o.mp4")], capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=f"{blocker}{os.pathsep}{ROOT}",
                                     NST_MODELS_DIR=str(tiny_models_dir)))
    one_line_error(result, "nst-ort[video]")


def test_luminance_colours_are_applied_when_the_frames_are_assembled(tiny_models_dir, small_clip, style_image, tmp_path):
    from PIL import Image

    from nst_base.model_store import open_model
    from nst_ort.core.colors import _RGB_TO_YIQ
    from nst_ort.jobs.run_folder import RunFolder
    from nst_ort.options.stylize import StylizeOptions
    from nst_ort.video.run import VideoJob, VideoOptions, VideoRunner

    job = VideoJob(small_clip, (style_image,), tmp_path / "frames",
                   StylizeOptions(size=64, iterations=3, threads=1, preserve_colors="luminance"),
                   VideoOptions(frame_iterations=2))
    runner = VideoRunner(job, open_model(tiny_models_dir / "vgg16"), [Image.open(style_image).convert("RGB")],
                         RunFolder(tmp_path / "frames.nst-run"))
    assert not runner.run().interrupted
    kept = [runner.load_frame(index) for index in range(runner.count)]  # as optimised
    runner.assemble()
    info = probe(small_clip)
    chroma = lambda frame: np.einsum("ij,hwj->hwi", _RGB_TO_YIQ[1:], frame / 255.0)  # noqa: E731
    written = sorted((tmp_path / "frames").glob("frame_*.png"))
    for kept_frame, path, source in zip(kept, written, read_frames(info, Window(), info.size)):
        output = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        assert np.abs(chroma(output) - chroma(source.astype(np.float64))).mean() < 0.01  # the clip's colours
        luma = np.einsum("j,jhw->hw", _RGB_TO_YIQ[0], kept_frame)
        assert np.abs(np.einsum("j,hwj->hw", _RGB_TO_YIQ[0], output / 255.0) - luma).mean() < 0.02  # the style's light


@pytest.mark.parametrize("options, message", [
    (dict(frame_iterations=0), "--frame-iterations"),
    (dict(temporal_weight=-1.0), "--temporal-weight"),
    (dict(window=Window(start=-1.0)), "--start"),
    (dict(window=Window(duration=0.0)), "--duration"),
])
def test_bad_video_options_are_refused(options, message):
    from nst_ort.video.run import VideoOptions

    with pytest.raises(NstError, match=message):
        VideoOptions(**options).validate()
