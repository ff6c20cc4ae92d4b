"""nst-ort vs a PyTorch CPU baseline: seconds per loss+gradient evaluation and peak RSS.

Run with the project's venv python (the one with `nst`); PyTorch lives in a separate venv
(bench/requirements-torch.txt, created on first use) and is never a dependency of nst-ort.

    .venv/bin/python bench/compare.py                       # 533x400 and 800x600, 2 threads
    .venv/bin/python bench/compare.py --check --check-only  # numerical agreement at 128x96

Every measurement is its own process (peak RSS is per process):
  ours:    nst bench --size WxH --iterations N --warmup W --threads T --json --engine E
  PyTorch: bench/torch_baseline.py (NCHW and channels_last) with our features.onnx weights.
Writes bench/results/compare.json and compare.md and prints the markdown table.
`--check` first compares our engines' loss and gradient with PyTorch autograd on the same
image, targets and weights (relative L2 of the gradient <= 1e-3, loss <= 1e-4).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

TORCH_FORMATS = ("nchw", "channels_last")
GRAD_TOLERANCE, LOSS_TOLERANCE = 1e-3, 1e-4
CONTENT_LAYERS = {"relu4_2": 1.0}  # the "gatys" recipe, as bench/torch_baseline.py
STYLE_LAYERS = {name: 1.0 for name in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_torch_venv(venv: Path) -> Path:
    """The baseline's venv (torch, onnx, numpy from requirements-torch.txt), created if missing."""
    python = venv_python(venv)
    probe = [str(python), "-c", "import torch, onnx, numpy"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    requirements = BENCH / "requirements-torch.txt"
    if not python.exists():
        say(f"creating the PyTorch baseline venv {venv} (bench only, not a dependency of nst-ort)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    say(f"installing {requirements.name} into {venv}")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)], check=True)
    subprocess.run(probe, check=True)
    return python


def nst_command() -> list[str]:
    """The project's `nst` next to this python, else `python -m cli` run from the checkout."""
    scripts = Path(sys.executable).parent
    for name in ("nst", "nst.exe"):
        if (scripts / name).is_file():
            return [str(scripts / name)]
    return [sys.executable, "-m", "cli"]


def ensure_model(models_dir: Path, net: str, pool: str) -> Path:
    """features.onnx of the exported model, running `nst export` first when it is missing."""
    from nst_base.manifest import model_name

    folder = models_dir / model_name(net, pool)
    if not (folder / "manifest.json").is_file():
        say(f"no exported {net} in {folder}: running nst export")
        subprocess.run(nst_command() + ["export", "--net", net, "--pool", pool, "--models-dir", str(models_dir)],
                       check=True, cwd=REPO)
    return folder / "features.onnx"


def run_json(command: list[str], timeout: float) -> dict:
    """Run one measurement process; its stdout is one JSON document."""
    began, load = time.perf_counter(), os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "command": command}
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return {"error": lines[-1] if lines else f"exit code {done.returncode}", "command": command}
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"error": f"no JSON on stdout: {done.stdout[-200:]!r}", "command": command}
    result["wall_seconds"] = time.perf_counter() - began
    result["loadavg_1min_before"] = load
    return result


def command_for(args, features: Path, torch_python: Path, size: str, impl: str) -> list[str]:
    counts = ["--iterations", str(args.iterations), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    if impl in TORCH_FORMATS:
        return [str(torch_python), str(BENCH / "torch_baseline.py"), "--features", str(features),
                "--size", size, "--memory-format", impl, *counts]
    engine, _, conv = impl.partition(":")  # portable:auto -> the portable engine with --conv auto
    return nst_command() + ["bench", "--size", size, "--json", "--engine", engine, "--conv", conv or "direct",
                            "--net", args.net, "--pool", args.pool, "--models-dir", str(args.models_dir), *counts]


def best_of(runs: list[dict], size: str, impl: str) -> dict:
    """The run with the lowest median (least disturbed by other load), or the last error."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return {**runs[-1], "implementation": impl, "size": size}
    best = min(good, key=lambda r: r["median_seconds"])
    return {**best, "implementation": impl, "size": size, "repeat_medians": [r["median_seconds"] for r in good]}


def label(impl: str) -> str:
    return {"nchw": "PyTorch fwd+bwd, NCHW", "channels_last": "PyTorch fwd+bwd, channels_last"}.get(
        impl, f"nst-ort `{impl.partition(':')[0]}` engine" + (f", conv {impl.partition(':')[2]}" if ":" in impl else ""))


def markdown(results: list[dict], args, check: dict | None) -> str:
    torch_version = next((r["versions"]["torch"] for r in results if "error" not in r and r["implementation"]
                          in TORCH_FORMATS), "?")
    lines = [f"Seconds per loss+gradient evaluation (median of {args.iterations} after {args.warmup} warm-up, "
             f"best of {args.repeat} run(s)), {args.threads} threads, {args.net} {args.pool}-pool cut after relu5_1, "
             f"content relu4_2 + style relu1_1..relu5_1 + TV; peak RSS of the whole process. "
             f"PyTorch {torch_version}; ratios > 1 favour nst-ort.", "",
             "| size (W×H) | implementation | s/eval | (min) | peak RSS GiB | PyTorch s / ours s (NCHW / CL) "
             "| ours RSS / PyTorch RSS (NCHW / CL) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for size in args.sizes:
        rows = [r for r in results if r["size"] == size]
        ref = {r["implementation"]: r for r in rows if r["implementation"] in TORCH_FORMATS and "error" not in r}
        for r in rows:
            name = label(r["implementation"])
            if "error" in r:
                lines.append(f"| {size} | {name} | unavailable: {r['error'][:80]} | | | | |")
                continue
            seconds, rss = r["median_seconds"], r.get("peak_rss_bytes")
            rss_text = f"{rss / 2**30:.2f}" if rss else "n/a"
            if r["implementation"] in TORCH_FORMATS:
                speed = memory = "—"
            else:
                speed = " / ".join(f"{ref[f]['median_seconds'] / seconds:.2f}" if f in ref else "n/a"
                                   for f in TORCH_FORMATS)
                memory = " / ".join(f"{rss / ref[f]['peak_rss_bytes']:.2f}" if f in ref and rss else "n/a"
                                    for f in TORCH_FORMATS)
            lines.append(f"| {size} | {name} | {seconds:.3f} | {r['min_seconds']:.3f} | {rss_text} | {speed} | {memory} |")
    if check is not None:
        lines += ["", f"Check at {check['size']}: " + "; ".join(
            f"{engine} vs PyTorch float32/float64: loss rel {c['vs']['nchw_float32']['loss_rel']:.1e}/"
            f"{c['vs']['nchw_float64']['loss_rel']:.1e}, gradient rel L2 {c['vs']['nchw_float32']['grad_rel_l2']:.1e}/"
            f"{c['vs']['nchw_float64']['grad_rel_l2']:.1e} ({'pass' if c['pass'] else 'FAIL'})"
            if "error" not in c else f"{engine}: {c['error']}" for engine, c in check["engines"].items())]
    return "\n".join(lines) + "\n"


def compare_arrays(ours_loss: float, ours_grad: np.ndarray, loss: float, grad: np.ndarray) -> dict:
    a, b = ours_grad.astype(np.float64).ravel(), grad.astype(np.float64).ravel()
    return {"loss_rel": abs(ours_loss - loss) / abs(loss),
            "grad_rel_l2": float(np.linalg.norm(a - b) / np.linalg.norm(b)),
            "grad_cosine": float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))}


def run_check(args, features: Path, torch_python: Path) -> dict:
    """Our engines vs PyTorch autograd on one image, with our targets and weights."""
    from nst_base.model_store import open_model
    from nst_ort.core.engines.factory import make_engine
    from nst_ort.core.engines.features import FeatureExtractor
    from nst_ort.core.targets import LossWeights, loss_inputs

    width, height = (int(v) for v in args.check_size.lower().split("x"))
    rng = np.random.default_rng(args.seed)
    content, style, start = (rng.uniform(0, 1, (3, height, width)).astype(np.float32) for _ in range(3))
    weights = LossWeights(1.0, 10.0, 1.0, dict(CONTENT_LAYERS), dict(STYLE_LAYERS))  # as nst_ort/core/timing.py
    inputs = loss_inputs(FeatureExtractor(str(features), args.threads), content, [style], [1.0], weights)
    report = {"size": args.check_size, "tolerances": {"grad_rel_l2": GRAD_TOLERANCE, "loss_rel": LOSS_TOLERANCE},
              "engines": {}}
    with tempfile.TemporaryDirectory() as tmp:
        given, out = Path(tmp) / "check_in.npz", Path(tmp) / "check_out.npz"
        np.savez(given, image=start, **inputs.feeds())
        done = subprocess.run([str(torch_python), str(BENCH / "torch_baseline.py"), "--features", str(features),
                               "--threads", str(args.threads), "--check", str(given), "--out", str(out)],
                              capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(f"torch_baseline.py --check failed:\n{done.stderr}")
        report["torch"] = json.loads(done.stdout)["configs"]
        reference = dict(np.load(out))
    configs = list(report["torch"])
    report["torch_float32_vs_float64"] = compare_arrays(
        float(reference["nchw_float32.loss"]), reference["nchw_float32.grad"],
        float(reference["nchw_float64.loss"]), reference["nchw_float64.grad"])
    model = open_model(features.parent)
    for engine in args.engines:
        try:
            result = make_engine(engine, model, inputs, (height, width), args.threads).evaluate(start)
        except Exception as error:  # noqa: BLE001 - an engine may not exist yet
            report["engines"][engine] = {"error": f"{type(error).__name__}: {error}"}
            continue
        vs = {c: compare_arrays(result.loss, result.grad, float(reference[f"{c}.loss"]), reference[f"{c}.grad"])
              for c in configs}
        report["engines"][engine] = {
            "loss": result.loss, "terms": result.terms, "grad_l2": float(np.linalg.norm(result.grad)), "vs": vs,
            "pass": all(v["grad_rel_l2"] <= GRAD_TOLERANCE and v["loss_rel"] <= LOSS_TOLERANCE for v in vs.values())}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="533x400,800x600", help="comma-separated WIDTHxHEIGHT")
    parser.add_argument("--iterations", type=int, default=5, help="timed evaluations per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed evaluations first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every measurement; the lowest median is kept")
    parser.add_argument("--engines", default="training,portable,portable:auto",
                        help="our engines to try, ENGINE or ENGINE:CONV (missing ones are skipped)")
    parser.add_argument("--torch", default=",".join(TORCH_FORMATS), help="PyTorch memory formats (empty: none)")
    parser.add_argument("--net", default="vgg16")
    parser.add_argument("--pool", default="max")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--torch-venv", type=Path, default=REPO / ".venv-torch",
                        help="venv for the PyTorch baseline, created from requirements-torch.txt if missing")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per measurement process")
    parser.add_argument("--check", action="store_true", help="first compare loss and gradient with PyTorch")
    parser.add_argument("--check-only", action="store_true", help="only the check (implies --check)")
    parser.add_argument("--check-size", default="128x96")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    torch_formats = [f.strip() for f in args.torch.split(",") if f.strip()]
    args.models_dir = args.models_dir.resolve()
    args.out_dir.mkdir(parents=True, exist_ok=True)

    torch_python = ensure_torch_venv(args.torch_venv.resolve())
    features = ensure_model(args.models_dir, args.net, args.pool)
    check = None
    if args.check or args.check_only:
        say(f"check at {args.check_size}: our engines vs PyTorch autograd")
        check = run_check(args, features, torch_python)
        (args.out_dir / "check.json").write_text(json.dumps(check, indent=2) + "\n")
        say(json.dumps({e: {k: c.get(k) for k in ("pass", "vs", "error") if k in c}
                        for e, c in check["engines"].items()}, indent=2))
    results: list[dict] = []
    if not args.check_only:
        # repeats are the outer loop, so a burst of outside load hits one round, not one row
        runs: dict[tuple[str, str], list[dict]] = {}
        missing: dict[str, str] = {}
        for round_ in range(1, args.repeat + 1):
            for size in args.sizes:
                for impl in args.engines + torch_formats:
                    if impl in missing:
                        continue
                    say(f"[{round_}/{args.repeat}] {size}: {label(impl)} ...")
                    result = run_json(command_for(args, features, torch_python, size, impl), args.timeout)
                    runs.setdefault((size, impl), []).append(result)
                    if "error" in result:
                        say(f"  unavailable: {result['error']}")
                        missing[impl] = result["error"]  # e.g. an engine this checkout does not have
                    else:
                        say(f"  {result['median_seconds']:.3f} s/eval, "
                            f"peak RSS {result['peak_rss_bytes'] / 2**30:.2f} GiB")
        for size in args.sizes:
            for impl in args.engines + torch_formats:
                found = runs.get((size, impl)) or [{"error": missing.get(impl, "not run")}]
                results.append(best_of(found, size, impl))
    document = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "machine": {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu_count": os.cpu_count(), "processor": platform.processor()},
                "results": results, "check": check}
    if results:  # a --check-only run leaves the last comparison alone
        text = markdown(results, args, check)
        (args.out_dir / "compare.json").write_text(json.dumps(document, indent=2) + "\n")
        (args.out_dir / "compare.md").write_text(text)
        print(text)
    if check is not None and not all(c.get("pass") for c in check["engines"].values() if "error" not in c):
        sys.exit(1)


if __name__ == "__main__":
    main()
