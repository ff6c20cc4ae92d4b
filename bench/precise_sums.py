"""What accurate loss sums cost: a float32 ReduceMean against the graphs' precise mean
(float32 rows and columns, the rest in float64) over a large tensor, error against float64
numpy and milliseconds per run (median of 5).

    .venv/bin/python bench/precise_sums.py [--values 64]     # millions of values
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from nst_graphs.graph import GraphBuilder  # noqa: E402


def session(shape: list[int], precise: bool) -> ort.InferenceSession:
    b = GraphBuilder("sums")
    squares = b.square(b.input("x", shape))
    b.output(b.precise_mean(squares, 4) if precise else b.reduce_mean(squares), "y", [])
    return ort.InferenceSession(b.model().SerializeToString(), providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=64, help="millions of values")
    args = parser.parse_args()
    shape = [1, args.values // 4, 2000, 2000]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    reference = float(np.mean(np.square(x.astype(np.float64))))
    for precise in (False, True):
        run = session(shape, precise)
        run.run(None, {"x": x})
        times = []
        for _ in range(5):
            started = time.perf_counter()
            value = float(run.run(None, {"x": x})[0])
            times.append((time.perf_counter() - started) * 1000)
        print(f"{'precise' if precise else 'float32'} mean of {x.size / 1e6:.0f} M squares: relative error "
              f"{abs(value - reference) / reference:.1e}, {statistics.median(times):.0f} ms")


if __name__ == "__main__":
    main()
