"""The L-BFGS-B loop on a tiny net: it descends, keeps bounds, reports, survives Ctrl-C."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nst_base.model_store import open_model
from nst_ort.core.engines.base import Evaluation
from nst_ort.core.engines.factory import make_engine
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.core.optimize import OptimizerSettings, optimize
from nst_ort.core.targets import LossWeights, loss_inputs

SHAPE = (3, 24, 32)


@pytest.fixture(scope="module")
def engine(tiny_models_dir):
    model = open_model(tiny_models_dir / "vgg16")
    rng = np.random.default_rng(0)
    content, style = (rng.uniform(0, 1, SHAPE).astype(np.float32) for _ in range(2))
    weights = LossWeights(1.0, 10.0, 0.1, {"relu4_2": 1.0}, {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0})
    inputs = loss_inputs(FeatureExtractor(str(model.features_path), 1), content, [style], [1.0], weights)
    return make_engine("auto", model, inputs, SHAPE[1:], threads=1), content


def test_loss_falls_and_pixels_stay_in_range(engine):
    runner, content = engine
    events = []
    outcome = optimize(runner, content, OptimizerSettings(iterations=15), lambda p, x: events.append((p, x)))
    start_loss = runner.evaluate(content).loss
    assert outcome.loss < 0.5 * start_loss
    assert 0.0 <= outcome.image.min() and outcome.image.max() <= 1.0
    assert [p.iteration for p, _ in events] == list(range(1, len(events) + 1))
    assert 1 <= len(events) <= 15 and outcome.evaluations >= len(events)
    assert events[-1][0].loss == pytest.approx(outcome.loss, rel=1e-6)
    assert all(later.loss <= earlier.loss for (earlier, _), (later, _) in zip(events, events[1:]))
    assert events[0][1].shape == SHAPE and not outcome.interrupted


class _InterruptAfter:
    """Wraps an engine and raises KeyboardInterrupt on evaluation number `count`."""

    name = "interrupting"

    def __init__(self, engine, count: int) -> None:
        self.engine, self.count, self.calls = engine, count, 0

    def evaluate(self, pixels: np.ndarray) -> Evaluation:
        self.calls += 1
        if self.calls == self.count:
            raise KeyboardInterrupt
        return self.engine.evaluate(pixels)


def test_ctrl_c_keeps_the_best_image(engine):
    runner, content = engine
    wrapped = _InterruptAfter(runner, count=8)
    outcome = optimize(wrapped, content, OptimizerSettings(iterations=50))
    assert outcome.interrupted
    assert outcome.evaluations == 7
    assert outcome.loss == pytest.approx(runner.evaluate(outcome.image).loss, rel=1e-5)
    assert outcome.loss < runner.evaluate(content).loss


def test_interrupt_before_any_evaluation_returns_the_start(engine):
    runner, content = engine
    outcome = optimize(_InterruptAfter(runner, count=1), content, OptimizerSettings(iterations=5))
    assert outcome.interrupted and outcome.evaluations == 0
    np.testing.assert_array_equal(outcome.image, content)


class _BoxQuadratic:
    """f(x) = 1/2 sum a (x - c)^2 with badly scaled a and some c outside [0, 1]: the constrained
    minimum is clip(c, 0, 1), known exactly."""

    name = "quadratic"

    def __init__(self, shape: tuple[int, ...], seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.scale = rng.uniform(0.1, 50.0, shape)
        self.centre = rng.uniform(-0.5, 1.5, shape)

    def evaluate(self, pixels: np.ndarray) -> Evaluation:
        delta = pixels.astype(np.float64) - self.centre
        return Evaluation(float(0.5 * np.sum(self.scale * delta**2)), {}, (self.scale * delta).astype(np.float32))


@pytest.mark.parametrize("method", ["lbfgs", "scipy-lbfgsb"])
def test_lbfgs_finds_the_box_constrained_minimum(method):
    problem = _BoxQuadratic((3, 8, 8))
    outcome = optimize(problem, np.full((3, 8, 8), 0.5, np.float32), OptimizerSettings(iterations=200, method=method))
    np.testing.assert_allclose(outcome.image, np.clip(problem.centre, 0, 1), atol=1e-4)
    assert outcome.evaluations <= 2 * 200 + 2


def test_own_lbfgs_keeps_pace_with_scipy(engine):
    runner, content = engine
    own, reference = (optimize(runner, content, OptimizerSettings(iterations=20, method=method))
                      for method in ("lbfgs", "scipy-lbfgsb"))
    assert own.loss <= 1.1 * reference.loss


class _Clocked(_BoxQuadratic):
    """Every evaluation takes one second of a fake clock."""

    def __init__(self, shape, clock: list[float]):
        super().__init__(shape)
        self.clock = clock

    def evaluate(self, pixels: np.ndarray) -> Evaluation:
        self.clock[0] += 1.0
        return super().evaluate(pixels)


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_the_pace_ahead_is_seconds_per_evaluation_not_the_first_iterations_extra_one(method):
    clock = [0.0]  # the run's clock only: each evaluation takes one second of it
    problem = _Clocked((3, 8, 8), clock)
    outcome = optimize(problem, np.full((3, 8, 8), 0.5, np.float32), OptimizerSettings(iterations=6, method=method),
                       clock=lambda: clock[0])
    first, *later = outcome.history
    assert first.elapsed == first.evaluations  # L-BFGS: the start's gradient and a trial point
    assert first.seconds_per_iteration == pytest.approx(1.0)
    for progress in later:
        # one second per evaluation since the first iteration, whatever that one took
        spent = (progress.elapsed - first.elapsed) / (progress.iteration - 1)
        assert progress.seconds_per_iteration == pytest.approx(spent)


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_a_level_stops_where_its_loss_stalls_and_a_resumed_one_at_the_same_iteration(method):
    problem, start = _BoxQuadratic((3, 8, 8)), np.full((3, 8, 8), 0.5, np.float32)
    settings = OptimizerSettings(iterations=300, method=method, learning_rate=0.05, stall=0.01)
    snapshots = []
    outcome = optimize(problem, start, settings, on_snapshot=snapshots.append)
    losses = [progress.loss for progress in outcome.history]
    window = settings.stall_window
    assert window < len(losses) < settings.iterations
    assert losses[-1 - window] - losses[-1] < 0.01 * losses[-1]  # stalled at the end
    assert all(losses[i - window] - losses[i] >= 0.01 * losses[i] for i in range(window, len(losses) - 1))
    assert len(optimize(problem, start, replace(settings, stall=0.0)).history) == settings.iterations

    resumed = optimize(problem, start, settings, resume=snapshots[len(losses) // 2])
    assert [progress.loss for progress in resumed.history] == losses
    np.testing.assert_array_equal(resumed.image, outcome.image)
