"""Optical flow between frames, warping along it, and where the warp can be trusted.

Flows are (H, W, 2) float32 arrays of (dx, dy) in pixels: `flow[y, x]` is where the pixel
(x, y) of the first frame moved to in the second. Flow comes from OpenCV's DIS (dense inverse
search, no training); warping and the consistency check are numpy, after Ruder, Dosovitskiy
and Brox, "Artistic style transfer for videos" (2016).
"""

from __future__ import annotations

import numpy as np

from nst_ort.video import require

# the forward-backward check: a pixel is occluded (or disoccluded) when going there and back
# misses by more than this share of the motion plus a constant (pixels squared)
CONSISTENCY_SHARE, CONSISTENCY_SLACK = 0.01, 0.5
# a motion boundary: the flow's gradient is large against the motion itself
BOUNDARY_SHARE, BOUNDARY_SLACK = 0.01, 0.002


def optical_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Dense flow from `first` to `second` ((H, W, 3) uint8 frames)."""
    cv2 = require("cv2")
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gray = lambda frame: np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))  # noqa: E731
    return flow.calc(gray(first), gray(second), None).astype(np.float32)


def sample_points(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel's flow points: x + dx, y + dy."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` (C, H, W) sampled at each pixel's flow target, bilinearly, clamped at the
    border: with the flow from frame t to frame t-1, frame t-1's image moved onto frame t."""
    height, width = flow.shape[:2]
    x, y = sample_points(flow)
    x, y = np.clip(x, 0, width - 1), np.clip(y, 0, height - 1)
    x0, y0 = np.minimum(np.floor(x).astype(np.int64), width - 2), np.minimum(np.floor(y).astype(np.int64), height - 2)
    x0, y0 = np.maximum(x0, 0), np.maximum(y0, 0)
    fx, fy = x - x0, y - y0
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    top = image[:, y0, x0] * (1 - fx) + image[:, y0, x1] * fx
    bottom = image[:, y1, x0] * (1 - fx) + image[:, y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(image.dtype)


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) float32: 1 where frame t's pixel can be traced back to frame t-1, 0 where not.

    `backward`: flow from frame t to t-1; `forward`: from t-1 to t. A pixel is dropped when it
    leaves the frame, when following the backward flow then the forward flow does not come
    back (disocclusion) or on a motion boundary.
    """
    height, width = backward.shape[:2]
    x, y = sample_points(backward)
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    forward_there = np.moveaxis(warp(np.moveaxis(forward, -1, 0), backward), 0, -1)
    miss = np.sum((backward + forward_there) ** 2, axis=-1)
    scale = np.sum(backward ** 2, axis=-1) + np.sum(forward_there ** 2, axis=-1)
    consistent = miss <= CONSISTENCY_SHARE * scale + CONSISTENCY_SLACK
    du_dy, du_dx = np.gradient(backward[..., 0])
    dv_dy, dv_dx = np.gradient(backward[..., 1])
    steep = du_dx ** 2 + du_dy ** 2 + dv_dx ** 2 + dv_dy ** 2
    boundary = steep > BOUNDARY_SHARE * np.sum(backward ** 2, axis=-1) + BOUNDARY_SLACK
    return (inside & consistent & ~boundary).astype(np.float32)
