"""Temporal consistency of `nst video` against frames stylised independently, on a generated clip.

    .venv/bin/python bench/video.py clip                 # the clip: a camera pan over a photo with a passing disc
    .venv/bin/python bench/video.py independent --jobs 2 # (a) every frame its own `nst stylize` run (defaults)
    .venv/bin/python bench/video.py video                # (b) `nst video` (defaults)
    .venv/bin/python bench/video.py measure              # the metric, docs/bench/video.json and a side-by-side GIF

Consistency = mean absolute difference (0..1 pixel units) between each output frame and the
previous output frame warped by the input's optical flow, over the pixels the flow traces
reliably (nst_ort/video/flow.py). The same number on the input clip is the floor the flow's own
error sets. Work files go to bench/results/video/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import nst_command  # noqa: E402
from nst_ort.video.flow import optical_flow, reliable, warp  # noqa: E402
from nst_ort.video.frames import Window, probe, read_frames, write_clip  # noqa: E402

WORK = ROOT / "bench" / "results" / "video"
DOCS = ROOT / "docs" / "bench"
IMAGES = ROOT.parent / "shared" / "images"
PHOTO, STYLE = IMAGES / "content" / "tubingen.jpg", IMAGES / "style" / "starry_night.jpg"
CLIP = WORK / "clip.mp4"
SIZE, FPS, SECONDS = (533, 300), 8, 3.0


def nst(*args: str) -> None:
    subprocess.run([*nst_command(), *args], check=True, cwd=ROOT)


def make_clip() -> None:
    """A slow pan and zoom across the photo, with a disc crossing the frame (occlusions)."""
    photo = Image.open(PHOTO).convert("RGB")
    width, height = SIZE
    frames = []
    count = int(SECONDS * FPS)
    for k in range(count):
        t = k / (count - 1)
        crop_w = photo.width * (0.78 - 0.08 * t)
        crop_h = crop_w * height / width
        left, top = (photo.width - crop_w) * (0.1 + 0.6 * t), (photo.height - crop_h) * (0.55 - 0.2 * t)
        frame = photo.resize(SIZE, Image.Resampling.LANCZOS, box=(left, top, left + crop_w, top + crop_h))
        draw = ImageDraw.Draw(frame)
        cx, cy, r = width * (0.9 - 0.7 * t), height * 0.62, 42
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(214, 160, 38), outline=(90, 50, 10), width=6)
        frames.append(np.asarray(frame))
    WORK.mkdir(parents=True, exist_ok=True)
    write_clip(frames, CLIP, FPS)
    print(f"wrote {CLIP}: {count} frames at {width}x{height}, {FPS} fps")


def input_frames(size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """The clip's frames (532x300: video keeps even sides), at `size` if given (the outputs' 533x301)."""
    info = probe(CLIP)
    return list(read_frames(info, Window(), size or info.size))


def independent(jobs: int, threads: int = 0) -> None:
    """(a): each frame stylised on its own from the photo, the defaults of `nst stylize`."""
    folder = WORK / "independent"
    folder.mkdir(parents=True, exist_ok=True)
    threads = str(threads or max(1, 2 // jobs))
    timings = WORK / "independent_seconds.json"
    seconds = json.loads(timings.read_text()) if timings.exists() else {}

    def one(index_frame: tuple[int, np.ndarray]) -> None:
        index, frame = index_frame
        out = folder / f"frame_{index + 1:06d}.png"
        if out.exists():
            return
        source = WORK / f"input_{index + 1:06d}.png"
        Image.fromarray(frame).save(source)
        started = time.perf_counter()
        partial = out.with_name(f"partial_{out.name}")  # an interrupted run writes its best image: not a finished frame
        nst("stylize", str(source), str(STYLE), "-o", str(partial), "--size", str(max(SIZE)), "--threads", threads,
            "--quiet", "--restart")
        partial.replace(out)
        seconds[str(index)] = time.perf_counter() - started
        timings.write_text(json.dumps(seconds, indent=1))
        print(f"independent frame {index + 1}: {seconds[str(index)]:.0f} s ({threads} threads, {jobs} at a time)", flush=True)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, enumerate(input_frames())))


def video(threads: int) -> None:
    """(b): `nst video` with its defaults, frames kept as PNG for the metric."""
    nst("video", str(CLIP), str(STYLE), "-o", str(WORK / "video"), "--size", str(max(SIZE)), "--threads", str(threads),
        "--report", str(WORK / "video_report.json"), "--restart")


def load_folder(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(path).convert("RGB")) for path in sorted(folder.glob("frame_*.png"))]


def video_frames() -> list[np.ndarray]:
    """The assembled output's frames, or those finished so far in its run folder (a stopped run)."""
    if (WORK / "video").is_dir():
        return load_folder(WORK / "video")
    return [np.asarray(Image.open(path).convert("RGB")) for path in sorted((WORK / "video.nst-run" / "frames").glob("*.png"))]


def consistency(outputs: list[np.ndarray], inputs: list[np.ndarray]) -> list[float]:
    """Per frame t >= 1: mean |o_t - warp(o_{t-1})| over reliably traced pixels, 0..1 units."""
    errors = []
    for t in range(1, len(outputs)):
        backward, forward = optical_flow(inputs[t], inputs[t - 1]), optical_flow(inputs[t - 1], inputs[t])
        mask = reliable(backward, forward)
        previous = outputs[t - 1].transpose(2, 0, 1).astype(np.float32) / 255
        difference = np.abs(outputs[t].transpose(2, 0, 1) / 255 - warp(previous, backward))
        errors.append(float((difference * mask).sum() / (3 * mask.sum())))
    return errors


def measure() -> None:
    runs = {"independent": load_folder(WORK / "independent"), "nst_video": video_frames()}
    height, width = runs["nst_video"][0].shape[:2]
    inputs = input_frames((width, height))
    count = min(len(frames) for frames in runs.values())  # frames both have, from the first
    if count < 2:
        raise SystemExit("run the independent and video steps first")
    inputs, runs = inputs[:count], {name: frames[:count] for name, frames in runs.items()}
    floor = consistency(inputs, inputs)
    result = {"clip": {"frames": count, "of": len(input_frames()), "size": [width, height], "fps": FPS,
                       "made_from": f"{PHOTO.name}: pan and zoom with a crossing disc (bench/video.py clip)"},
              "style": STYLE.name, "input_clip_consistency": float(np.mean(floor))}
    for name, frames in runs.items():
        errors = consistency(frames, inputs)
        result[name] = {"consistency": float(np.mean(errors)), "per_frame": errors}
    result["ratio_video_to_independent"] = result["nst_video"]["consistency"] / result["independent"]["consistency"]
    report_path = WORK / "video_report.json"
    if report_path.exists():
        report = json.loads(report_path.read_text())
        result["nst_video"]["first_frame_seconds"] = report["first_frame_seconds"]
        result["nst_video"]["later_frame_seconds"] = report["later_frame_seconds"]
    timings = WORK / "independent_seconds.json"
    if timings.exists():
        result["independent"]["frame_seconds"] = json.loads(timings.read_text())
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "video.json").write_text(json.dumps(result, indent=2) + "\n")
    side = [np.concatenate([a, b], axis=1) for a, b in zip(runs["independent"], runs["nst_video"])]
    small = [np.asarray(Image.fromarray(frame).resize((frame.shape[1] // 2, frame.shape[0] // 2),
                                                      Image.Resampling.LANCZOS)) for frame in side]
    write_clip(small, DOCS / "video_side_by_side.gif", FPS)
    print(json.dumps({k: v for k, v in result.items() if k not in ("independent", "nst_video")}, indent=2))
    print(f"independent {result['independent']['consistency']:.4f}  nst video {result['nst_video']['consistency']:.4f}  "
          f"ratio {result['ratio_video_to_independent']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["clip", "independent", "video", "measure"])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.step == "clip":
        make_clip()
    elif args.step == "independent":
        independent(args.jobs, args.threads)
    elif args.step == "video":
        video(args.threads)
    else:
        measure()


if __name__ == "__main__":
    main()
