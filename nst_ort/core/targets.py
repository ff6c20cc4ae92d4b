"""Content features and style Grams of the target images, computed once per size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nst_base.errors import NstError
from nst_ort.core.engines.base import LossInputs
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.options.choices import CONVENTIONS, check_supported
from nst_ort.options.stylize import REFERENCE_SIDE, StylizeOptions
from nst_ort.core.engines.tiles import layer_shape
from nst_ort.io.masks import downsample_to




@dataclass(frozen=True)
class LossWeights:
    """User-facing weights; per-layer weights multiply the global ones.

    `convention` says what a weight multiplies (see `layer_scales`):
      relative    each term divided by its target's mean square: a relative error, so the
                  same weights suit every layer, image, network and weight source (default);
      raw         the loss graph's terms as written (docs/development.md, "The loss");
      keras-book  Chollet's Deep Learning with Python (ch. 12.3) formulas, so its published
                  weights (2.5e-8, 1e-6, 1e-6) mean what they meant there;
      tf-course   the TF course formulas (1/(4 nH nW nC) content, 1/(2 nC nH nW)^2 style),
                  for its alpha 10 / beta 30.
    """

    content: float
    style: float
    tv: float
    content_layers: dict[str, float]
    style_layers: dict[str, float]
    convention: str = "relative"
    style_loss: str = "gram"  # nst_ort/core/engines/style_losses.py

    @classmethod
    def of(cls, options: StylizeOptions, long_side: int = REFERENCE_SIDE) -> LossWeights:
        """A run's weights for a working image `long_side` px long (the style weight depends on it)."""
        return cls(options.content_weight, options.style_weight_at(long_side), options.tv_weight,
                   dict(options.content_layers), dict(options.style_layers), options.convention, options.style_loss)


def _mean_square(array: np.ndarray) -> float:
    return max(float(np.mean(np.square(array, dtype=np.float64))), 1e-12)


def layer_scales(convention: str, kind: str, target: np.ndarray, channels: int, positions: int,
                 image_pixels: int) -> float:
    """Factor from a user weight to the graph weight of one term.

    The graph computes content mean((F-P)^2), style sum((G-A)^2)/C^2 with G = F F^T / N,
    and TV (sum dx^2 + dy^2) / (3 H W) on [0, 1] pixels (N = positions of the layer at the
    generated image's size, H W = image_pixels).
    """
    if convention == "relative":
        return 1.0 / _mean_square(target) if kind != "tv" else 1.0
    if convention == "raw":
        return 1.0
    if convention == "keras-book":
        # content sum((F-P)^2); style sum((F F^T - S S^T)^2) / (4 * 3^2 * (H W)^2) (the book's
        # channels = 3, size = image pixels); TV on 0..255 pixels, exponent 1 here (the book: 1.25)
        return {"content": channels * positions,
                "style": (channels * positions) ** 2 / (36.0 * image_pixels ** 2),
                "tv": 255.0 ** 2 * 3 * image_pixels}[kind]
    if convention == "tf-course":
        # content sum(...)/(4 nH nW nC); style sum((A A^T - S S^T)^2)/(2 nC nH nW)^2 = sum((G-A)^2)/(4 C^2).
        # The course fed 0..1 pixels to a VGG trained on 0..255 ones, so its activations were
        # about 255x smaller than these: 255^2 and 255^4 keep its alpha/beta balance.
        return {"content": 0.25 / 255.0**2, "style": 0.25 / 255.0**4, "tv": 1.0}[kind]
    raise NstError(f"unknown weight convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")


# each style loss's weight relative to the painting's own statistics, times its strength: the
# factor that makes the same --style-weight give about the same content error with each loss
# (w2: the geometric mean over the three pairs of `bench/quality.py losses` at 256 px, whose
# runs used 0.85 and matched Gram's default content error at weights 1.51, 1.03 and 1.00)
STYLE_LOSS_STRENGTH = {"gram": 1.0, "w2": 0.66}


def _w2_scale(convention: str, second: np.ndarray) -> float:
    """W2 is in squared feature units: `relative` divides it by the painting's mean squared
    feature norm tr(A) (as the Gram term is divided by the mean square of A)."""
    check_supported("w2", convention=convention)
    if convention == "relative":
        return STYLE_LOSS_STRENGTH["w2"] / max(float(np.trace(np.asarray(second, np.float64))), 1e-12)
    return 1.0


def loss_inputs(extract: FeatureExtractor, content: np.ndarray, styles: Sequence[np.ndarray],
                blend: Sequence[float], weights: LossWeights, masks: Sequence[np.ndarray] = ()) -> LossInputs:
    """Targets and graph weights from the content image and the style images.

    Without masks the style target is the blend of the styles' Grams (shares `blend`; with a
    loss that reads the mean too, the blend of their means: the moments of the mixture of the
    paintings' features). With masks ((H, W) arrays at the content's size, one per style)
    each style keeps its own statistics for its region and `blend` weighs the regions. `extract` gives maps and Grams (for large
    images a tiled extractor computes them a tile at a time, nst_ort/core/engines/tiled.py).
    """
    content_features = extract.maps(content, list(weights.content_layers))
    style_moments = [extract.moments(style, list(weights.style_layers)) for style in styles]
    height, width = content.shape[1:]
    pixels = height * width

    def scale(kind: str, layer: str, target: np.ndarray) -> float:
        if kind == "style" and weights.style_loss == "w2":
            return _w2_scale(weights.convention, target)
        channels = target.shape[-1] if kind == "style" else target.shape[1]
        positions = int(np.prod(layer_shape(layer, height, width)))
        return layer_scales(weights.convention, kind, target, channels, positions, pixels)

    def style_target(layer: str, part: int) -> np.ndarray:
        """The painting's Gram (part 0) or mean (part 1): one per region, or the blend's."""
        values = [per_style[layer][part] for per_style in style_moments]
        return np.stack(values) if masks else sum(share * value for share, value in zip(blend, values))

    def style_weight(layer: str, target: np.ndarray) -> float | np.ndarray:
        base = weights.style * weights.style_layers[layer]
        if not masks:
            return base * scale("style", layer, target)
        return np.array([base * share * scale("style", layer, region) for share, region in zip(blend, target)])

    style_targets = {layer: style_target(layer, 0) for layer in weights.style_layers}
    style_masks = {layer: np.stack([downsample_to(mask, layer_shape(layer, height, width))[None] for mask in masks])
                   for layer in weights.style_layers} if masks else {}
    return LossInputs(
        content_targets={layer: content_features[layer] for layer in weights.content_layers},
        style_targets=style_targets,
        content_weights={layer: weights.content * w * scale("content", layer, content_features[layer])
                         for layer, w in weights.content_layers.items()},
        style_weights={layer: style_weight(layer, target) for layer, target in style_targets.items()},
        tv_weight=weights.tv * layer_scales(weights.convention, "tv", content, 3, pixels, pixels),
        style_masks=style_masks,
        style_loss=weights.style_loss,
        style_means={layer: style_target(layer, 1) for layer in weights.style_layers} if weights.style_loss != "gram"
        else {},
    )
