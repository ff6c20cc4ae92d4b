"""What many test files share: comparing gradients, running `nst` (in this process, or as a real process where a
test needs one: signals, kills, two runs at once, what a fresh process imports), reading its
one-line errors, and waiting for a process to reach a point instead of sleeping."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from nst_ort.jobs.signals import STOP_SIGNALS

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def _as_a_command(models_dir: Path | None) -> Iterator[None]:
    """The process state a command line starts with: the checkout as the working folder,
    $NST_MODELS_DIR, no inherited signal handlers; restored afterwards."""
    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    if models_dir is not None:
        os.environ["NST_MODELS_DIR"] = str(models_dir)
    os.chdir(ROOT)
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv


def nst(*args, models_dir: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`nst ARGS` run in this process through the console script's own entry (nst_ort.cli's
    main: one-line errors, exit codes), its stdout and stderr captured. `timeout` is for
    nst_process's signature; a test that needs a real process calls that."""
    from nst_ort.cli import main

    arguments = [str(arg) for arg in args]
    stdout, stderr = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with _as_a_command(models_dir), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        sys.argv = ["nst", *arguments]
        try:
            main()
        except SystemExit as done:
            code = done.code
    if isinstance(code, str):  # sys.exit("message"): printed, status 1
        stderr.write(code + "\n")
        code = 1
    return subprocess.CompletedProcess(["nst", *arguments], code or 0, stdout.getvalue(), stderr.getvalue())


def nst_process(*args, models_dir: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`nst ARGS` as a real process started as a user starts it (the checkout's `python -m cli`)."""
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env=command_env(models_dir), timeout=timeout)


def command_env(models_dir: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if models_dir is not None:
        env["NST_MODELS_DIR"] = str(models_dir)
    return env


def start_nst(args: list, models_dir: Path, wait_for: str = "ETA", timeout: float = 120,
              times: int = 1) -> subprocess.Popen:
    """`nst ARGS` started as a real process, returned once its stderr showed `wait_for` on
    `times` lines (a progress line each few iterations: a later one means further in)."""
    process = subprocess.Popen([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, env=command_env(models_dir),
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    for line in process.stderr:
        times -= wait_for in line
        if times <= 0:
            return process
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError(f"nst {' '.join(map(str, args))} never printed {wait_for!r}")


def wait_until(condition, timeout: float = 60, what: str = "the condition") -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.02)


def one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    """The command failed with one `error: ...` line naming `fragment`, no traceback."""
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert fragment in lines[-1], lines[-1]


def declared_png(path, width: int, height: int) -> None:
    """A few bytes of PNG that declare width x height RGB pixels (no pixel data)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


def stylize_args(images: dict[str, Path], out: Path, *extra) -> list:
    """A stylize run long enough to be stopped mid-way (400 iterations, 2 levels, one thread)."""
    return ["stylize", images["content"], images["style"], "-o", out, "--size", 64, "--iterations", 400,
            "--scales", 2, "--threads", 1, "--engine", "portable", "--checkpoint-every", "1h", *extra]


def stop_a_run(images: dict[str, Path], folder: Path, models_dir: Path, progress_lines: int = 1) -> tuple[Path, Path]:
    """(run folder, content) of a run stopped by SIGTERM once it printed `progress_lines`
    progress lines; its content photo is a copy in `folder` (tests may change it)."""
    content = folder / "content.png"
    content.write_bytes(images["content"].read_bytes())
    process = start_nst(stylize_args({**images, "content": content}, folder / "out.png"), models_dir,
                        times=progress_lines)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 143
    return folder / "out.png.nst-run", content


def relative_l2(a, b) -> float:
    """|a - b| / |b|, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def same_gradient_but_switches(grad, reference, l2: float = 2e-3) -> None:
    """A real-network gradient against another one computed with other float rounding: any
    last-bit difference flips a few relu and max-pool switches, which moves a few pixels'
    gradients, so the L2 difference is ~1e-4 rather than float32's 1e-7; the median pixel
    still agrees to 1e-6 of the gradient's RMS."""
    rms = np.sqrt(np.mean(reference**2))
    assert relative_l2(grad, reference) < l2
    assert np.median(np.abs(grad - reference)) < 1e-6 * rms
