"""Clips in and out: a video file or GIF (PyAV) or a folder of frames in; a video with the
input's audio, a GIF or a folder of PNG frames out, always written under a temporary name
and renamed into place."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from nst_base.errors import NstError
from nst_base.files import atomic_dir, atomic_file
from nst_ort.io.images import check_decodable, header_size, load_image
from nst_ort.io.outputs import check_own_folder
from nst_ort.video import require

# output suffix -> (container, video codec, audio codec); the container is named because the
# file is written under a temporary name
VIDEO_CODECS = {".mp4": ("mp4", "libx264", "aac"), ".mov": ("mov", "libx264", "aac"), ".m4v": ("mp4", "libx264", "aac"),
                ".mkv": ("matroska", "libx264", "aac"), ".webm": ("webm", "libvpx-vp9", "libopus")}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
FRAME_NAME = "frame_{:06d}.png"  # a folder output's frames
FRAME_FILE = re.compile(r"frame_(\d{6,})\.png")
FRAMES_MARKER = ".nst-ort-frames.json"  # marks a folder of frames nst-ort wrote
FOLDER_FPS = 24.0  # a folder of frames has no rate of its own: --fps sets it, this when not given
EPSILON = 1e-6


@dataclass(frozen=True)
class Window:
    """The part of a clip to use and the rate to sample it at (None: the clip's own)."""

    start: float = 0.0
    duration: float | None = None
    fps: float | None = None

    def validate(self) -> None:
        if not self.start >= 0:
            raise NstError(f"--start must be >= 0 seconds, not {self.start}")
        if self.duration is not None and not self.duration > 0:
            raise NstError(f"--duration must be > 0 seconds, not {self.duration}")
        if self.fps is not None and not 0 < self.fps <= 240:
            raise NstError(f"--fps must be in (0, 240], not {self.fps}")


@dataclass(frozen=True)
class ClipInfo:
    """What an input holds."""

    path: Path
    fps: float
    size: tuple[int, int]  # (width, height)
    duration: float  # seconds
    has_audio: bool

    def rate(self, window: Window) -> float:
        return window.fps or self.fps

    def end(self, window: Window) -> float:
        return self.duration if window.duration is None else min(self.duration, window.start + window.duration)

    def frame_count(self, window: Window) -> int:
        """Frames the window yields (an estimate when the clip's duration is approximate)."""
        return max(0, int(np.ceil((self.end(window) - window.start) * self.rate(window) - EPSILON)))


def _folder_frames(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _open(path: Path):
    av = require("av")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError):
        raise NstError(f"{path} is not a video or GIF that can be read") from None


def probe(path: Path, folder_fps: float | None = None) -> ClipInfo:
    """Frame rate, size, duration and audio of a video file, GIF or folder of frames. A folder's
    frames are all taken, at `folder_fps` (--fps; FOLDER_FPS when not given)."""
    if not path.exists():
        raise NstError(f"{path} does not exist")
    if path.is_dir():
        frames = _folder_frames(path)
        if not frames:
            raise NstError(f"{path} has no frames (PNG, JPEG, ... images)")
        size = header_size(frames[0])
        check_decodable(frames[0], size)
        fps = folder_fps or FOLDER_FPS
        return ClipInfo(path, fps, size, len(frames) / fps, False)
    with _open(path) as container:
        if not container.streams.video:
            raise NstError(f"{path} has no video stream")
        stream = container.streams.video[0]
        check_decodable(path, (stream.codec_context.width, stream.codec_context.height))
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = (container.duration or 0) / 1_000_000
        try:
            first = next(container.decode(video=0), None)
        except Exception:  # PyAV raises its own error kinds for damaged streams
            first = None
        if first is None:
            raise NstError(f"{path} has no frames that can be decoded")
        if fps <= 0 or not np.isfinite(fps):
            fps = FOLDER_FPS
        if duration <= 0 and stream.frames:
            duration = stream.frames / fps
        return ClipInfo(path, fps, (first.width, first.height), max(duration, 1 / fps), bool(container.streams.audio))


def _timed_frames(info: ClipInfo) -> Iterator[tuple[float, Image.Image]]:
    """Every frame of the input with its time in seconds."""
    if info.path.is_dir():
        for index, frame in enumerate(_folder_frames(info.path)):
            yield index / info.fps, load_image(frame)
        return
    with _open(info.path) as container:
        for index, frame in enumerate(container.decode(video=0)):
            time = frame.time if frame.time is not None else index / info.fps
            yield float(time), frame.to_image().convert("RGB")


def read_frames(info: ClipInfo, window: Window, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """The window's frames at its rate, resized to `size`, as (H, W, 3) uint8 arrays.

    Output frame k (time start + k / rate) is the last input frame shown at that time, so a
    lower rate drops frames and a higher one repeats them.
    """
    step, end, count = 1.0 / info.rate(window), info.end(window), info.frame_count(window)
    emitted, previous, shown_until = 0, None, 0.0

    def at_size(image: Image.Image) -> np.ndarray:
        return np.asarray(image if image.size == size else image.resize(size, Image.Resampling.LANCZOS))

    for time, image in _timed_frames(info):
        while previous is not None and emitted < count and window.start + emitted * step < time - EPSILON:
            yield previous
            emitted += 1
        if emitted >= count or time > end + EPSILON:
            break
        previous, shown_until = at_size(image), time + 1.0 / info.fps
    while previous is not None and emitted < count and window.start + emitted * step < shown_until - EPSILON:
        yield previous  # the last frame lasts one input frame
        emitted += 1


def output_kind(path: Path) -> str:
    """'video', 'gif' or 'folder' from the output's name."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_CODECS:
        return "video"
    if suffix == ".gif":
        return "gif"
    if suffix == "" or path.is_dir():
        return "folder"
    raise NstError(f"-o {path}: write a video ({', '.join(VIDEO_CODECS)}), a .gif or a folder (no suffix)")


def write_clip(frames: Iterable[np.ndarray], output: Path, fps: float,
               audio: tuple[ClipInfo, Window] | None = None) -> None:
    """Write (H, W, 3) uint8 frames as `output` (see output_kind), atomically. `audio`: the
    input and window whose sound a video output carries (re-encoded for the container)."""
    kind = output_kind(output)
    if kind == "folder":
        _write_frame_folder(frames, output)
        return
    with atomic_file(output) as partial:
        if kind == "gif":
            _write_gif(frames, partial, fps)
        else:
            _write_video(frames, partial, output.suffix.lower(), fps, audio)


def check_frame_folder(output: Path) -> None:
    """An output folder of frames must be new, empty, or one nst-ort wrote before (its frames
    and marker only): nst-ort never writes among, or removes, files it did not make."""
    if output.exists() and not output.is_dir():
        raise NstError(f"-o {output} is a file: give a folder name (no suffix) for PNG frames")
    check_own_folder(output, FRAMES_MARKER, ours=_is_ours)


def _is_ours(path: Path) -> bool:
    """A frame file or the marker (what a folder output of nst-ort holds)."""
    return path.name == FRAMES_MARKER or (FRAME_FILE.fullmatch(path.name) is not None and path.is_file())


def _write_frame_folder(frames: Iterable[np.ndarray], output: Path) -> None:
    """A new folder is written whole under a temp name and renamed; an existing one (empty,
    or nst-ort's own output) gets each frame replaced atomically, and the frames of its
    earlier output beyond the new count removed."""
    check_frame_folder(output)
    if not output.exists():
        with atomic_dir(output) as folder:
            _write_frames(frames, folder, atomic=False)
        return
    count = _write_frames(frames, output, atomic=True)
    for stale in output.iterdir():
        match = FRAME_FILE.fullmatch(stale.name)
        if match and int(match.group(1)) > count and (output / FRAMES_MARKER).is_file():
            stale.unlink()


def _write_frames(frames: Iterable[np.ndarray], folder: Path, atomic: bool) -> int:
    count = 0
    for count, frame in enumerate(frames, start=1):
        path = folder / FRAME_NAME.format(count)
        if atomic:
            with atomic_file(path) as tmp:
                Image.fromarray(frame).save(tmp, format="PNG")
        else:
            Image.fromarray(frame).save(path)
    with atomic_file(folder / FRAMES_MARKER) as tmp:
        tmp.write_text(json.dumps({"kind": "nst-ort frames", "frames": count}) + "\n")
    return count


def _write_gif(frames: Iterable[np.ndarray], path: Path, fps: float) -> None:
    images = [Image.fromarray(frame) for frame in frames]
    if not images:
        raise NstError("no frames to write")
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)


def _write_video(frames: Iterable[np.ndarray], path: Path, suffix: str, fps: float,
                 audio: tuple[ClipInfo, Window] | None) -> None:
    av = require("av")
    container_format, video_codec, audio_codec = VIDEO_CODECS[suffix]
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(video_codec, rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"} if video_codec == "libx264" else {"crf": "30", "b": "0"}
        sound = audio is not None and audio[0].has_audio
        audio_stream = container.add_stream(audio_codec, rate=_audio_rate(audio_codec, audio[0])) if sound else None
        written = 0
        for index, frame in enumerate(frames):
            height, width = (side - side % 2 for side in frame.shape[:2])  # 4:2:0 needs even sides
            if index == 0:
                stream.width, stream.height = width, height
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:height, :width]), format="rgb24")
            picture.pts = index
            picture.time_base = 1 / rate
            container.mux(stream.encode(picture))
            written += 1
        if not written:
            raise NstError("no frames to write")
        container.mux(stream.encode(None))
        if audio_stream is not None:
            _copy_audio(container, audio_stream, *audio)


def _audio_rate(codec: str, info: ClipInfo) -> int:
    if codec == "libopus":
        return 48000  # the rates Opus takes; 48 kHz covers every input
    with _open(info.path) as source:
        return source.streams.audio[0].rate or 48000


def _copy_audio(container, stream, info: ClipInfo, window: Window) -> None:
    """Re-encode the input's sound between the window's start and end into `stream`."""
    with _open(info.path) as source:
        end = info.end(window)
        for frame in source.decode(audio=0):
            if frame.time is None or frame.time < window.start - EPSILON:
                continue
            if frame.time >= end:
                break
            frame.pts = None
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
