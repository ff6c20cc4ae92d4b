"""The Python API: `nst_ort.stylize(content, style, ...)`, mirroring `nst stylize`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from nst_base.errors import NstError
from nst_base.manifest import default_models_dir
from nst_ort.core.levels import StylizeResult, plan_stylize
from nst_ort.core.levels import stylize as run_transfer
from nst_ort.core.optimize import ProgressCallback
from nst_ort.io.images import PIXEL_LIMIT
from nst_ort.io.inputs import as_list, load_inputs, open_image
from nst_ort.io.masks import check_masks
from nst_ort.options.defaults import CHECKPOINT_EVERY
from nst_ort.options.recipes import choose_net, recipe_options
from nst_ort.options.stylize import StylizeOptions


def stylize(content: str | Path | Image.Image, style: str | Path | Image.Image | Sequence[str | Path | Image.Image],
            *, recipe: str = "gatys", similarity: str | None = None, models_dir: Path | None = None,
            on_progress: ProgressCallback | None = None, notify: Callable[[str], None] = lambda message: None,
            mask: str | Path | Image.Image | Sequence[str | Path | Image.Image] = (),
            checkpoint: str | Path | None = None, checkpoint_every: float = CHECKPOINT_EVERY, **options) -> StylizeResult:
    """Stylise `content` (a path or PIL image) with one or more styles; returns the image and a report.

    Keyword options are the fields of StylizeOptions (size, iterations, style_weight, ...),
    applied on top of the recipe. `mask`: one grayscale image per style, white where that
    style goes. `checkpoint`: a run folder where the run keeps its state every
    `checkpoint_every` seconds and when interrupted, so `nst_ort.resume(folder)` can continue
    it (inputs must then be files). Example: `nst_ort.stylize("photo.jpg", "starry.jpg", size=400).image`.
    """
    settings = recipe_options(recipe, similarity, **options)
    settings.validate()
    models_dir = models_dir if models_dir is not None else default_models_dir()
    settings = choose_net(settings, models_dir, notify, vgg16_fallback=options.get("net") is None)
    explicit_size = options.get("size") is not None
    if checkpoint is not None:
        return _stylize_with_checkpoints(content, as_list(style), as_list(mask), settings, explicit_size, models_dir,
                                         Path(checkpoint), checkpoint_every, on_progress, notify)
    content_image, style_images = load_inputs(content, as_list(style), settings, explicit_size)
    masks = [open_image(item, None if explicit_size else PIXEL_LIMIT, None, settings.max_memory) for item in as_list(mask)]
    if masks:
        check_masks(masks, len(style_images))  # before the model is opened (or exported on first use)
    from export.pipeline import ensure_exported

    model = ensure_exported(models_dir, settings.net, settings.pool, notify)
    plan = plan_stylize(content_image.size, settings, model.manifest, len(style_images), len(masks))  # validated above
    if settings.gentle:
        from nst_ort.jobs.window import yield_priority

        yield_priority()
    return run_transfer(content_image, style_images, model, settings, on_progress=on_progress, masks=masks,
                        notify=notify, plan=plan)


def _stylize_with_checkpoints(content, styles: list, masks: list, settings: StylizeOptions, explicit_size: bool,
                              models_dir: Path, folder: Path, every: float, on_progress: ProgressCallback | None,
                              notify: Callable[[str], None]) -> StylizeResult:
    from nst_ort.jobs.job import Job
    from nst_ort.jobs.lifecycle import complete, start
    from nst_ort.jobs.run_folder import RunFolder

    if not all(isinstance(item, (str, Path)) for item in [content, *styles, *masks]):
        raise NstError("a run with checkpoints needs its inputs as files (paths), so it can be resumed")
    job = Job(Path(content), tuple(map(Path, styles)), settings, tuple(map(Path, masks)), explicit_size=explicit_size)
    return complete(start(job, models_dir, RunFolder(folder), checkpoint_every=every,
                          reporters=[on_progress] if on_progress else [], notify=notify))


def resume(run_dir: str | Path, *, models_dir: Path | None = None, on_progress: ProgressCallback | None = None,
           notify: Callable[[str], None] = lambda message: None, checkpoint_every: float = CHECKPOINT_EVERY,
           output: str | Path | None = None, gif: str | Path | None = None,
           report: str | Path | None = None) -> StylizeResult:
    """Continue the interrupted run kept in `run_dir` (by `nst stylize` or `stylize(checkpoint=...)`);
    writes the outputs it was started with (only beside the run folder; `output`, `gif` and
    `report` name any other place, as `nst resume -o/--gif/--report` do) and returns the result."""
    from nst_ort.jobs.lifecycle import complete
    from nst_ort.jobs.runner import resume_runner

    models_dir = models_dir if models_dir is not None else default_models_dir()
    given = {key: Path(value) for key, value in (("image", output), ("gif", gif), ("report", report)) if value is not None}
    runner = resume_runner(Path(run_dir), models_dir, checkpoint_every, [on_progress] if on_progress else [], notify,
                           outputs=given)
    return complete(runner)
