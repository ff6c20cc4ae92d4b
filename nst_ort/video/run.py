"""`nst video`: the frames of a clip stylised in order, each later one starting from the previous
result warped by the optical flow and held to it by the temporal term.

Finished frames go to the run folder (OUTPUT.nst-run/frames, lossless PNG, as optimised):
the same command after an interruption continues with the next frame. The output is
assembled from them once every frame is done, and the folder removed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from nst_base.errors import NstError
from nst_base.files import atomic_file
from nst_base.model_store import ExportedModel
from nst_ort.colors import transfer_luminance
from nst_ort.images import fit_long_side, save_image, to_array, to_image
from nst_ort.optimize import ProgressCallback, optimize
from nst_ort.progress import format_seconds
from nst_ort.runstate import RunFolder
from nst_ort.targets import FeatureExtractor
from nst_ort.transfer import StylizeOptions, blend_shares, level_engine, plan_levels, style_arrays, stylize
from nst_ort.video.flow import optical_flow, reliable, warp
from nst_ort.video.frames import ClipInfo, Window, output_kind, probe, read_frames, write_clip
from nst_ort.video.temporal import TemporalEngine

FRAME_NAME = "{:06d}.png"


@dataclass(frozen=True)
class VideoOptions:
    """What `nst video` adds to the stylize options (which apply to every frame)."""

    window: Window = field(default_factory=Window)
    frame_iterations: int = 40  # L-BFGS iterations per frame after the first (which gets the full schedule)
    temporal_weight: float = 100.0  # 0: each frame only starts from the warped previous one

    def validate(self) -> None:
        self.window.validate()
        if not 1 <= self.frame_iterations <= 10_000:
            raise NstError(f"--frame-iterations must be in 1..10000, not {self.frame_iterations}")
        if not 0 <= self.temporal_weight < float("inf"):
            raise NstError(f"--temporal-weight must be >= 0, not {self.temporal_weight}")


@dataclass(frozen=True)
class VideoJob:
    source: Path  # video file, GIF or folder of frames
    styles: tuple[Path, ...]
    output: Path
    options: StylizeOptions
    video: VideoOptions = field(default_factory=VideoOptions)

    def to_dict(self) -> dict:
        return {"video": str(self.source.resolve()), "styles": [str(p.resolve()) for p in self.styles],
                "output": str(self.output.resolve()), "options": asdict(self.options), "video_options": asdict(self.video)}


@dataclass
class FrameReport:
    index: int
    seconds: float
    loss: float
    temporal: float  # the temporal term at the end (0 for the first frame)


@dataclass
class VideoResult:
    frames: list[FrameReport]
    interrupted: bool = False
    output: Path | None = None  # written when every frame is done


def check_job(job: VideoJob) -> ClipInfo:
    """Everything that can be checked before any model work: options, input, output."""
    job.options.validate()
    job.video.validate()
    if job.options.time_budget is not None or job.options.keep_size:
        raise NstError("nst video has no --time-budget or --keep-size: frames are made at --size")
    info = probe(job.source)
    output_kind(job.output)
    if job.output.resolve() == job.source.resolve() or job.output.resolve() in {p.resolve() for p in job.styles}:
        raise NstError(f"-o {job.output} would overwrite an input")
    if info.frame_count(job.video.window) < 1:
        raise NstError(f"{job.source} has no frames between {job.video.window.start} s and its end "
                       f"({info.duration:.2f} s)")
    return info


class VideoRunner:
    """Stylises a clip's frames in order, keeping the finished ones in the run folder."""

    def __init__(self, job: VideoJob, model: ExportedModel, styles: list[Image.Image], folder: RunFolder,
                 first_frame_progress: ProgressCallback | None = None, say: Callable[[str], None] = lambda line: None,
                 restart: bool = False) -> None:
        self.job, self.model, self.styles, self.folder, self.say = job, model, styles, folder, say
        self.first_frame_progress = first_frame_progress
        self.info = check_job(job)
        self.window = job.video.window
        self.size = fit_long_side(self.info.size, job.options.size)
        self.count = self.info.frame_count(self.window)
        _, _, plans = plan_levels(self.size, job.options, model.manifest, len(styles))  # refuses what cannot fit
        self.plan = plans[-1]
        self._open_folder(restart)

    def _open_folder(self, restart: bool) -> None:
        record = json.loads(json.dumps({"job": self.job.to_dict()}))  # as it reads back (tuples as lists)
        if restart:
            self.folder.clear()
        if self.folder.exists():
            if self.folder.job().get("job") != record["job"]:
                raise NstError(f"{self.folder.path} holds the frames of another run: add --restart to start over")
            return
        self.folder.create(record)

    def frame_path(self, index: int) -> Path:
        return self.folder.frames / FRAME_NAME.format(index + 1)

    def finished(self) -> int:
        """Frames already done, in order from the first."""
        done = 0
        while done < self.count and self.frame_path(done).is_file():
            done += 1
        return done

    def run(self) -> VideoResult:
        """Stylise the frames not done yet; stops cleanly on KeyboardInterrupt (a stop signal)."""
        options = replace(self.job.options, preserve_colors=_optimised_colors(self.job.options))
        extractor = FeatureExtractor(str(self.model.features_path), options.threads)
        blend = blend_shares(options, len(self.styles), masked=False)
        start_at = self.finished()
        reports: list[FrameReport] = []
        if start_at:
            self.say(f"continuing: {start_at} of {self.count} frames were done")
        previous_frame = previous_result = None
        began = time.perf_counter()
        try:
            for index, frame in enumerate(read_frames(self.info, self.window, self.size)):
                if index < start_at - 1:
                    continue
                if index == start_at - 1:  # the last finished frame: the start of the next one
                    previous_frame, previous_result = frame, self.load_frame(index)
                    continue
                clock = time.perf_counter()
                if previous_result is None:
                    outcome = stylize(Image.fromarray(frame), self.styles, self.model, options,
                                      self.first_frame_progress).outcome
                    pixels, loss, temporal, interrupted = outcome.image, outcome.loss, 0.0, outcome.interrupted
                else:
                    pixels, loss, temporal, interrupted = self._later_frame(options, frame, previous_frame,
                                                                            previous_result, extractor, blend)
                if interrupted:
                    return VideoResult(reports, interrupted=True)
                save_image(to_image(pixels), self.frame_path(index))
                reports.append(FrameReport(index, time.perf_counter() - clock, loss, temporal))
                self._progress(index, reports, began)
                previous_frame, previous_result = frame, pixels
        except KeyboardInterrupt:
            return VideoResult(reports, interrupted=True)
        return VideoResult(reports)

    def load_frame(self, index: int) -> np.ndarray:
        with Image.open(self.frame_path(index)) as image:
            return to_array(image.convert("RGB"))

    def _later_frame(self, options: StylizeOptions, frame: np.ndarray, previous_frame: np.ndarray,
                     previous_result: np.ndarray, extractor: FeatureExtractor,
                     blend: tuple[float, ...]) -> tuple[np.ndarray, float, float, bool]:
        """One frame from the previous result warped onto it, with the temporal term."""
        video = self.job.video
        backward, forward = optical_flow(frame, previous_frame), optical_flow(previous_frame, frame)
        warped = warp(previous_result, backward)
        content = to_array(Image.fromarray(frame))
        engine = level_engine(self.model, options, self.plan, extractor, content,
                              style_arrays(self.styles, options.size, options, content), blend, [], options.size)
        engine = TemporalEngine(engine, warped, reliable(backward, forward), video.temporal_weight)
        settings = replace(options.optimizer_settings(video.frame_iterations), history=self.plan.history)
        outcome = optimize(engine, warped, settings)
        temporal = outcome.history[-1].terms.get("temporal", 0.0) if outcome.history else 0.0
        return outcome.image, outcome.loss, temporal, outcome.interrupted

    def _progress(self, index: int, reports: list[FrameReport], began: float) -> None:
        later = [r.seconds for r in reports if r.index > 0]
        per_frame = float(np.mean(later[-5:])) if later else reports[-1].seconds
        left = (self.count - index - 1) * per_frame
        self.say(f"frame {index + 1}/{self.count}  loss {reports[-1].loss:.4g}  {reports[-1].seconds:.1f} s/frame  "
                 f"elapsed {format_seconds(time.perf_counter() - began)}  ETA {format_seconds(left)}")

    def finished_frames(self) -> Iterator[np.ndarray]:
        """The finished frames as (H, W, 3) uint8, colours kept from the input if asked."""
        luminance = self.job.options.preserve_colors == "luminance"
        inputs = read_frames(self.info, self.window, self.size) if luminance else None
        for index in range(self.count):
            pixels = self.load_frame(index)
            if inputs is not None:
                pixels = transfer_luminance(pixels, next(inputs).transpose(2, 0, 1).astype(np.float32) / 255.0)
            yield np.asarray(to_image(pixels))

    def assemble(self, report: Path | None = None, result: VideoResult | None = None) -> Path:
        """Write the output from the finished frames (atomically), the report, and drop the run folder."""
        if self.finished() < self.count:
            raise NstError(f"only {self.finished()} of {self.count} frames are done")
        kind = output_kind(self.job.output)
        audio = (self.info, self.window) if kind == "video" else None
        write_clip(self.finished_frames(), self.job.output, self.info.rate(self.window), audio)
        if report is not None:
            with atomic_file(report) as tmp:
                tmp.write_text(json.dumps(self.report(result), indent=2) + "\n")
        self.folder.clear()
        return self.job.output

    def report(self, result: VideoResult | None) -> dict:
        frames = [asdict(r) for r in result.frames] if result is not None else []
        later = [r["seconds"] for r in frames if r["index"] > 0]
        return {"job": self.job.to_dict(), "size": list(self.size), "frames": self.count,
                "fps": self.info.rate(self.window), "first_frame_seconds": next((r["seconds"] for r in frames
                                                                                 if r["index"] == 0), None),
                "later_frame_seconds": float(np.mean(later)) if later else None, "per_frame": frames}


def _optimised_colors(options: StylizeOptions) -> str | None:
    """Luminance transfer is applied when the output is assembled: frames keep the optimised
    pixels, so the next frame warps what was optimised."""
    return None if options.preserve_colors == "luminance" else options.preserve_colors

