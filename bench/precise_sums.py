"""What accurate loss sums cost: a float32 ReduceMean against the graphs' precise mean
(float32 rows and columns, the rest in float64) over a large tensor, error against float64
numpy and milliseconds per run (median of 5).

    .venv/bin/python bench/precise_sums.py [--values 64]     # millions of values
    .venv/bin/python bench/precise_sums.py --evaluation 1024x683 [--rounds 5]

`--evaluation WxH` times whole loss+gradient evaluations of the real VGG16's gradient graph
(default layers, random targets) built with the precise sums and with one float32 ReduceSum
per term (the graph before them), alternating the two sessions in one process; prints the
median of each and their ratio.
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


def plain_sum(self: GraphBuilder, x: str, rank: int) -> str:
    """The graph before the precise sums: one float32 ReduceSum over the whole tensor."""
    return self.op("ReduceSum", [x], keepdims=0)


def evaluation_sessions(width: int, height: int, threads: int) -> dict[str, tuple]:
    """{precise, float32}: (session, feeds) of the real gradient graph at width x height."""
    from unittest import mock

    from nst_base.model_store import default_models_dir, open_model
    from nst_graphs.gradient_graph import build_gradient_model
    from nst_graphs.loss_graph import DEFAULT_LOSS_LAYERS
    from nst_ort.platform.sessions import session_options

    model = open_model(default_models_dir() / "vgg16")
    features = model.load_features()
    built = {"precise": build_gradient_model(features, DEFAULT_LOSS_LAYERS)}
    with mock.patch.object(GraphBuilder, "precise_sum", plain_sum):
        built["float32"] = build_gradient_model(features, DEFAULT_LOSS_LAYERS)
    rng = np.random.default_rng(0)
    sessions = {}
    for name, graph in built.items():
        options = session_options(threads, shared_arena=True)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        run = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feeds = {}
        for value in run.get_inputs():
            shape = [1, 3, height, width] if value.name == "image" else [
                dim if isinstance(dim, int) else None for dim in value.shape]
            if None in shape:  # content targets: the content layer's map at this size
                stride = 8
                shape = [1, shape[1], height // stride, width // stride]
            feeds[value.name] = rng.uniform(0, 1, shape).astype(np.float32) if shape else np.array(1.0, np.float32)
        sessions[name] = (run, feeds)
    return sessions


def time_evaluations(size: str, rounds: int, threads: int) -> None:
    width, height = map(int, size.split("x"))
    sessions = evaluation_sessions(width, height, threads)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for round_ in range(rounds + 1):  # the first round warms up
        for name, (run, feeds) in sessions.items():
            started = time.perf_counter()
            run.run(None, feeds)
            if round_:
                times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{width}x{height}, {threads} threads, median of {rounds}: "
          + ", ".join(f"{name} {value:.3f} s" for name, value in medians.items())
          + f"; precise / float32 = {medians['precise'] / medians['float32']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=64, help="millions of values")
    parser.add_argument("--evaluation", help="WxH: time whole evaluations instead")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.evaluation:
        time_evaluations(args.evaluation, args.rounds, args.threads)
        return
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
