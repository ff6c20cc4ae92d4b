"""nst-ort: neural style transfer (Gatys et al.) on ONNX Runtime.

    import nst_ort
    result = nst_ort.stylize("photo.jpg", "starry_night.jpg", size=512)
    result.image.save("out.png")

The run time: image I/O, loss targets, gradient engines, optimisers and reports. Exported
models come from the `export` package (a one-time step, run on first use).
"""

from __future__ import annotations

from nst_base.versions import NST_ORT_VERSION as __version__  # noqa: F401
__all__ = ["stylize", "resume", "StylizeOptions", "RECIPES", "Status"]


def __getattr__(name: str):
    """Load the API on first use, so `import nst_ort` stays light."""
    if name in ("stylize", "resume"):
        from nst_ort import api

        return getattr(api, name)
    if name == "StylizeOptions":
        from nst_ort.options.stylize import StylizeOptions

        return StylizeOptions
    if name == "Status":  # what became of a job, as batches and the studio record it
        from nst_ort.jobs.status import Status

        return Status
    if name == "RECIPES":
        from nst_ort.options.recipes import RECIPES

        return RECIPES
    raise AttributeError(name)
