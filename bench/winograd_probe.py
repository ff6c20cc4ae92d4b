"""Winograd convolutions against the direct form on onnxruntime's CPU provider.

Per layer: F(2x2,3x3) and F(4x4,3x3) against direct convolution, one VGG16 layer at a time at
the size a 533x400 image gives it: seconds per convolution (a layer's forward, or its input
gradient, the same convolution with the channels swapped) and, with --check, the relative
error against float64 numpy. Then whole evaluations: `nst bench` (direct, winograd and auto
side by side) at each of --sizes. The forms are those of nst_graphs/winograd.py.

    .venv/bin/python bench/winograd_probe.py [--threads 2] [--check] [--out docs/bench/winograd.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from nst_graphs.graph import GraphBuilder  # noqa: E402
from nst_graphs.networks import conv_layers  # noqa: E402
from nst_graphs.winograd import FORMS as FORMS_BY_TILE, transformed_kernel, winograd_conv  # noqa: E402
from nst_ort.platform.sessions import session_options  # noqa: E402


FORMS = ("direct", "winograd2", "winograd4")


def layer_model(kernel: np.ndarray, bias: np.ndarray, form: str):
    b = GraphBuilder(f"probe_{form}")
    x = b.input("x", [1, kernel.shape[1], "height", "width"])
    w, c = b.const(kernel, "kernel"), b.const(bias, "bias")
    if form == "direct":
        y = b.conv(x, w, c, pad=1)
    else:
        m = int(form[-1])
        u = b.const(transformed_kernel(kernel, FORMS_BY_TILE[m]), "u")
        y = winograd_conv(b, x, u, kernel.shape[:2], c, m=m)
    b.output(y, name="y", shape=[1, kernel.shape[0], "height", "width"])
    return b.model()


def reference(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 3x3, pad-1 convolution in float64 (tests/test_winograd.py checks against it too)."""
    padded = np.pad(x[0].astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    height, width = x.shape[2:]
    out = np.zeros((kernel.shape[0], height, width))
    for dy in range(3):
        for dx in range(3):
            window = padded[:, dy:dy + height, dx:dx + width].reshape(kernel.shape[1], -1)
            out += (kernel[:, :, dy, dx].astype(np.float64) @ window).reshape(out.shape)
    return out + bias[:, None, None]


def timed(session: ort.InferenceSession, x: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    result = session.run(None, {"x": x})[0]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.run(None, {"x": x})
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="533x400")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="also the error against float64 (slow)")
    parser.add_argument("--sizes", default="266x200,533x400,1066x800", help="whole evaluations (empty: none)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    rng = np.random.default_rng(0)
    rows, seen = [], set()
    for layer in conv_layers("vgg16")[1:]:  # conv1_1 (3 channels) stays direct
        scale = 2 ** (layer.block - 1)
        h, w = -(-height // scale), -(-width // scale)
        for direction, (cin, cout) in (("forward", (layer.in_channels, layer.out_channels)),
                                       ("gradient", (layer.out_channels, layer.in_channels))):
            if (cin, cout, h, w) in seen:
                continue
            seen.add((cin, cout, h, w))
            kernel = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32)
            bias = rng.standard_normal(cout).astype(np.float32) * 0.1
            x = np.maximum(rng.standard_normal((1, cin, h, w)), 0).astype(np.float32)
            row = {"layer": layer.conv, "direction": direction, "in": cin, "out": cout, "height": h, "width": w}
            outputs = {}
            for form in FORMS:
                session = ort.InferenceSession(layer_model(kernel, bias, form).SerializeToString(),
                                               session_options(args.threads), providers=["CPUExecutionProvider"])
                row[form], outputs[form] = timed(session, x, args.repeats)
            row.update({f"speedup_{form}": row["direct"] / row[form] for form in FORMS[1:]})
            if args.check:
                exact = reference(x, kernel, bias)
                for form in FORMS:
                    row[f"{form}_error"] = float(np.linalg.norm(outputs[form][0] - exact) / np.linalg.norm(exact))
            rows.append(row)
            print(json.dumps(row), flush=True)
    total = {form: sum(row[form] for row in rows) for form in FORMS}
    best = sum(min(row[form] for form in FORMS) for row in rows)
    print("all layers: " + ", ".join(f"{form} {seconds:.3f} s" for form, seconds in total.items())
          + f"; the fastest form per layer {best:.3f} s ({total['direct'] / best:.2f}x direct)")
    evaluations = [evaluation for size in filter(None, args.sizes.split(","))
                   for evaluation in whole_evaluations(size, args.threads)]
    if args.out:
        args.out.write_text(json.dumps({"size": args.size, "threads": args.threads, "rows": rows, "total": total,
                                        "best_per_layer": best, "evaluations": evaluations}, indent=1) + "\n")


def whole_evaluations(size: str, threads: int) -> list[dict]:
    """`nst bench --size SIZE`: direct, winograd and auto, each in its own process."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", "nst_ort", "bench", "--size", size, "--threads", str(threads),
                           "--iterations", "3", "--warmup", "1", "--json"], capture_output=True, text=True, check=True)
    results = json.loads(done.stdout)
    for result in results:
        print(f"{size} {result['conv']}: {result['median_seconds']:.3f} s, peak {result['peak_rss_bytes'] / 2**30:.2f} GiB",
              flush=True)
    return results


if __name__ == "__main__":
    main()
