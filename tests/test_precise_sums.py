"""Loss sums accurate at any size: one float32 ReduceSum over tens of millions of values drifts
by percents (what made the untiled content and TV terms differ from the tiled engine's float64
sums at print size); the graphs' precise sums agree with float64 numpy to 1e-6."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from nst_graphs.graph import GraphBuilder

SHAPE = [1, 8, 1024, 2048]  # 16.8 M values: a relu4_2 of a 4000x3000 print has 96 M


def _mean_of_squares(precise: bool) -> ort.InferenceSession:
    b = GraphBuilder("sums")
    squares = b.square(b.input("x", SHAPE))
    b.output(b.precise_mean(squares, 4) if precise else b.reduce_mean(squares), "y", [])
    return ort.InferenceSession(b.model().SerializeToString(), providers=["CPUExecutionProvider"])


def test_a_float32_sum_drifts_and_the_precise_sum_does_not():
    x = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    reference = float(np.mean(np.square(x.astype(np.float64))))
    naive = float(_mean_of_squares(False).run(None, {"x": x})[0])
    precise = float(_mean_of_squares(True).run(None, {"x": x})[0])
    assert abs(naive - reference) / reference > 1e-4  # what the graphs did before: the drift is real
    assert abs(precise - reference) / reference < 1e-6


@pytest.mark.parametrize("rank, shape", [(2, [512, 512]), (4, [1, 3, 37, 53]), (3, [4, 5, 6])])
def test_the_precise_sum_is_the_sum_at_every_rank(rank, shape):
    b = GraphBuilder("sums")
    b.output(b.precise_sum(b.input("x", shape), rank), "y", [])
    session = ort.InferenceSession(b.model().SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    assert float(session.run(None, {"x": x})[0]) == pytest.approx(float(x.astype(np.float64).sum()), rel=1e-6, abs=1e-6)
