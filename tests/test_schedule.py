"""Coarse-to-fine schedules and the multi-level stylize loop."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst_base.errors import NstError
from nst_base.model_store import open_model
from nst_ort.io.images import resize_pixels
from nst_ort.options.schedule import Level, auto_levels, scale_schedule
from nst_ort.core.levels import StylizeOptions, style_arrays, stylize


def test_auto_levels_start_near_128_px_at_every_size():
    assert auto_levels(512) == 3 and auto_levels(256) == 2 and auto_levels(200) == 1
    assert auto_levels(1024) == 4 and auto_levels(6000) == 6
    for side in (256, 512, 1024, 6000):
        assert 128 <= scale_schedule(side, 10, auto_levels(side))[0].long_side < 256


def test_a_larger_run_passes_through_the_smaller_runs_levels():
    small, large = scale_schedule(512, 100, auto_levels(512)), scale_schedule(1024, 100, auto_levels(1024))
    assert [level.long_side for level in large[:-1]] == [level.long_side for level in small]


def test_schedule_doubles_up_to_the_final_size():
    assert scale_schedule(512, 100, 3) == [Level(128, 100), Level(256, 100), Level(512, 100)]
    assert scale_schedule(533, 50, 2, coarse_iterations=20) == [Level(266, 20), Level(533, 50)]
    assert scale_schedule(300, 10, 1) == [Level(300, 10)]


def test_resize_pixels_keeps_range_and_shape():
    pixels = np.random.default_rng(0).uniform(0, 1, (3, 10, 16)).astype(np.float32)
    bigger = resize_pixels(pixels, (32, 20))
    assert bigger.shape == (3, 20, 32) and bigger.min() >= 0 and bigger.max() <= 1
    assert abs(float(bigger.mean()) - float(pixels.mean())) < 0.02


def _photo(width, height, seed):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def test_levels_run_coarse_to_fine(tiny_models_dir):
    model = open_model(tiny_models_dir / "vgg16")
    seen = []
    options = StylizeOptions(size=96, iterations=3, scales=3, coarse_iterations=2, threads=1)
    result = stylize(_photo(80, 60, 0), [_photo(50, 50, 1)], model, options, on_progress=lambda p, x: seen.append((p, x.shape)))
    levels = [(p.level, shape) for p, shape in seen]
    assert {shape for _, shape in levels} == {(3, 18, 24), (3, 36, 48), (3, 72, 96)}
    assert [lv for lv, _ in levels] == sorted(lv for lv, _ in levels)
    assert seen[0][0].later_levels_seconds > 0 and seen[-1][0].eta == 0
    assert result.image.size == (96, 72)
    assert [lv["size"] for lv in result.report["levels"]] == [[24, 18], [48, 36], [96, 72]]


def test_levels_too_small_for_the_net_are_dropped_or_refused(tiny_models_dir):
    model = open_model(tiny_models_dir / "vgg16")
    options = StylizeOptions(size=64, iterations=1, scales=3, threads=1)  # 16x12 is too small for relu5_1
    result = stylize(_photo(80, 60, 0), [_photo(50, 50, 1)], model, options)
    assert [lv["size"] for lv in result.report["levels"]] == [[32, 24], [64, 48]]
    with pytest.raises(NstError, match="need both sides >= 16"):
        stylize(_photo(200, 20, 0), [_photo(50, 50, 1)], model, StylizeOptions(size=64, iterations=1))


def test_style_scale_and_validation(tiny_models_dir):
    model = open_model(tiny_models_dir / "vgg16")
    for bad in (dict(scales=9), dict(coarse_iterations=0), dict(style_scale=0.0), dict(style_scale=float("nan"))):
        with pytest.raises(NstError):
            stylize(_photo(40, 30, 0), [_photo(40, 40, 1)], model, StylizeOptions(size=32, iterations=1, **bad))
    result = stylize(_photo(40, 30, 0), [_photo(40, 40, 1)], model,
                     StylizeOptions(size=32, iterations=2, scales=1, style_scale=0.5, threads=1))
    assert result.image.size == (32, 24)


def test_a_style_image_is_not_enlarged_past_its_own_pixels_unless_asked():
    content = np.zeros((3, 48, 64), np.float32)
    small, large = _photo(40, 30, 1), _photo(300, 200, 2)
    native = style_arrays([small, large], 128, StylizeOptions(), content)
    assert [array.shape for array in native] == [(3, 30, 40), (3, 85, 128)]
    enlarged = style_arrays([small, large], 128, StylizeOptions(style_upscale=True), content)
    assert [array.shape for array in enlarged] == [(3, 96, 128), (3, 85, 128)]
    doubled = style_arrays([small, large], 128, StylizeOptions(style_scale=2.0), content)
    assert [array.shape for array in doubled] == [(3, 60, 80), (3, 171, 256)]  # asked for: enlarged


def test_style_weight_follows_the_working_size():
    options = StylizeOptions(style_weight=1.5, style_size_exponent=0.5)
    assert options.style_weight_at(512) == 1.5
    assert options.style_weight_at(256) == pytest.approx(1.5 * 2 ** 0.5)
    assert options.style_weight_at(1024) == pytest.approx(1.5 / 2 ** 0.5)
    assert StylizeOptions(style_weight=3.0, style_size_exponent=0).style_weight_at(128) == 3.0
    with pytest.raises(NstError, match="--style-size-exponent"):
        StylizeOptions(style_size_exponent=-1).validate()


def test_each_level_gets_the_style_weight_of_its_size(tiny_models_dir, monkeypatch):
    import nst_ort.core.levels as transfer

    used = []
    real = transfer.loss_inputs

    def recording(extract, content, styles, blend, weights, masks=()):
        used.append((max(content.shape[1:]), weights.style))
        return real(extract, content, styles, blend, weights, masks)

    monkeypatch.setattr(transfer, "loss_inputs", recording)
    options = StylizeOptions(size=96, iterations=1, scales=2, style_weight=2.0, style_size_exponent=0.5, threads=1)
    stylize(_photo(80, 60, 0), [_photo(50, 50, 1)], open_model(tiny_models_dir / "vgg16"), options)
    assert used == [(48, pytest.approx(2.0 * (512 / 48) ** 0.5)), (96, pytest.approx(2.0 * (512 / 96) ** 0.5))]


def test_default_iterations_grow_below_512_px_and_an_explicit_count_wins():
    from nst_ort.options.stylize import StylizeOptions

    assert [StylizeOptions(size=s).final_iterations() for s in (128, 256, 384, 512, 533, 1024, 2048, 6000)] == \
        [200, 200, 133, 100, 100, 100, 50, 17]
    assert StylizeOptions(size=256, iterations=7).final_iterations() == 7
    assert StylizeOptions(size=6000, iterations=100).final_iterations() == 100


def test_the_default_schedule_halves_iterations_per_doubling_above_1024_px_and_explicit_counts_are_kept():
    from nst_ort.options.stylize import StylizeOptions

    print_run = StylizeOptions(size=6000).schedule()
    assert [(level.long_side, level.iterations) for level in print_run] == \
        [(188, 100), (375, 100), (750, 100), (1500, 68), (3000, 34), (6000, 17)]
    assert [level.iterations for level in StylizeOptions(size=1024).schedule()] == [100, 100, 100, 100]
    assert {level.iterations for level in StylizeOptions(size=6000, iterations=100).schedule()} == {100}
    assert [level.iterations for level in StylizeOptions(size=3000, coarse_iterations=20).schedule()] == [20] * 4 + [34]


def test_a_time_budget_keeps_cheap_levels_and_shares_the_rest_equally():
    from nst_ort.core.budget import MIN_ITERATIONS, budget_iterations, time_cap

    costs = [1.0, 4.0, 16.0]
    assert budget_iterations(2100.0, [100, 100, 100], costs, seconds_per_cost=1.0) == [100, 100, 100]
    planned = budget_iterations(1050.0, [100, 100, 100], costs, seconds_per_cost=1.0)
    # the two cheap levels keep their 100 (500 s); the last one gets the 550 s left
    assert planned == [100, 100, 34] and sum(n * c for n, c in zip(planned, costs)) <= 1050
    assert budget_iterations(1.0, [100, 100], [1.0, 4.0], seconds_per_cost=1.0) == [MIN_ITERATIONS] * 2
    assert budget_iterations(-5.0, [100], [1.0], seconds_per_cost=None) == [MIN_ITERATIONS]
    assert time_cap([1.0, 2.0], 10.0) == float("inf")
    assert time_cap([1.0, 5.0, 9.0], 9.0) == 4.0  # 1 + 4 + 4


def test_a_level_gets_a_time_share_and_no_iteration_starts_that_would_overrun_it():
    from types import SimpleNamespace

    from nst_ort.core.budget import first_level_seconds
    from nst_ort.core.optimize import _time_for_another

    costs = [1.0, 4.0, 16.0]
    assert first_level_seconds(1050.0, [100, 100, 100], costs, seconds_per_cost=1.0) == 100.0  # cheap: all of it
    # an expensive level (slower than planned, say) stops at its equal share: the next keeps its own
    assert first_level_seconds(1000.0, [100, 100], [16.0, 16.0], seconds_per_cost=1.0) == 500.0
    assert first_level_seconds(-3.0, [100], [1.0], seconds_per_cost=None) == 0.0
    now = 1000.0  # the run's clock
    run = SimpleNamespace(history=[SimpleNamespace(seconds_per_iteration=30.0)], clock=lambda: now)
    assert _time_for_another(run, now + 60) and not _time_for_another(run, now + 20)
    assert _time_for_another(SimpleNamespace(history=[], clock=lambda: now), now + 1) and _time_for_another(run, None)


def test_a_run_with_a_time_budget_ends_within_it(tiny_models_dir):
    import time

    from PIL import Image

    from nst_base.model_store import open_model
    from nst_ort.core.levels import StylizeOptions, stylize

    rng = np.random.default_rng(0)
    content, style = (Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)) for _ in range(2))
    model = open_model(tiny_models_dir / "vgg16")
    unlimited = stylize(content, [style], model, StylizeOptions(size=128, iterations=150, scales=2, threads=1))
    budget = unlimited.report["total_seconds"] / 2  # a quarter (~0.25 s) left the fixed set-up too little room in CI
    began = time.perf_counter()
    limited = stylize(content, [style], model, StylizeOptions(size=128, iterations=150, scales=2, threads=1,
                                                              time_budget=budget))
    assert time.perf_counter() - began < budget * 1.5 + 0.5
    assert len(limited.outcome.history) < len(unlimited.outcome.history)
    assert {p.level for p in limited.outcome.history} == {1, 2}  # every level ran
    for level in limited.report["levels"]:  # each level's plan beside its own measured peak (Linux)
        assert level["estimated_peak_bytes"] > 0
        assert level["peak_rss_bytes"] is None or 0 < level["peak_rss_bytes"] <= limited.report["peak_rss_bytes"]
