"""Tiny random VGG-shaped networks and an independent float64 numpy reference of the loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from PIL import Image

from export.weights import CAFFE, Preprocessing, WeightSet
from nst_base.checksums import sha256_file
from nst_base.manifest import FEATURES, Manifest
from nst_base.model_store import ExportedModel, open_model
from nst_graphs.features import build_features_model, channels_of
from nst_graphs.networks import conv_layers

TINY_CHANNELS = (4, 6, 8, 8, 8)


def tiny_weights(net: str = "vgg16", seed: int = 0, preprocessing: Preprocessing = CAFFE) -> WeightSet:
    """Random weights with VGG's layer structure but a few channels per layer."""
    rng = np.random.default_rng(seed)
    kernels, biases, cin = [], [], 3
    for layer in conv_layers(net):
        cout = TINY_CHANNELS[layer.block - 1]
        scale = np.sqrt(2.0 / (cin * 9)) * (1 / 60 if cin == 3 else 1)  # caffe inputs are ~0..255
        kernels.append((rng.standard_normal((cout, cin, 3, 3)) * scale).astype(np.float32))
        biases.append((rng.standard_normal(cout) * 0.1).astype(np.float32))
        cin = cout
    return WeightSet(net, kernels, biases, preprocessing, source=f"tiny-random:{seed}", sha256="0" * 64)


def write_tiny_model(folder: Path, net: str = "vgg16", pool: str = "max", seed: int = 0) -> ExportedModel:
    """An exported-model folder holding a tiny random features model."""
    weights = tiny_weights(net, seed)
    model = build_features_model(weights, pool)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / FEATURES))
    Manifest(net=net, pool=pool, source=weights.source, source_sha256=weights.sha256,
             preprocessing=weights.preprocessing.as_dict(), layers=channels_of(model),
             files={FEATURES: sha256_file(folder / FEATURES)}).write(folder)
    return open_model(folder)


def random_images(folder: Path, sizes: dict[str, tuple[int, int]], seed: int = 0) -> dict[str, Path]:
    """PNG files of random RGB noise, one per name, each (width, height) as given."""
    rng = np.random.default_rng(seed)
    paths = {}
    for name, (width, height) in sizes.items():
        paths[name] = folder / f"{name}.png"
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(paths[name])
    return paths


# ---- independent numpy reference (float64) ---------------------------------------------

def _conv3x3(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((kernel.shape[0], h, w))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("oc,chw->ohw", kernel[:, :, dy, dx], padded[:, dy:dy + h, dx:dx + w])
    return out + bias[:, None, None]


def _pool(x: np.ndarray, kind: str) -> np.ndarray:
    c, h, w = x.shape
    blocks = x[:, :h // 2 * 2, :w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2)
    return blocks.max(axis=(2, 4)) if kind == "max" else blocks.mean(axis=(2, 4))


def reference_features(weights: WeightSet, pixels: np.ndarray, pool: str = "max") -> dict[str, np.ndarray]:
    """Relu activations (C, h, w) of an RGB image (3, H, W) in [0, 1], in float64."""
    pre = weights.preprocessing
    rgb = pixels.astype(np.float64) * pre.scale
    order = ["RGB".index(ch) for ch in pre.channel_order]
    x = (rgb[order] - np.array(pre.mean)[:, None, None]) / np.array(pre.std)[:, None, None]
    out, previous_block = {}, 1
    for layer, kernel, bias in zip(conv_layers(weights.net), weights.kernels, weights.biases):
        if layer.block != previous_block:
            x, previous_block = _pool(x, pool), layer.block
        x = np.maximum(_conv3x3(x, kernel.astype(np.float64), bias.astype(np.float64)), 0)
        out[layer.relu] = x
    return out


def reference_gram(f: np.ndarray) -> np.ndarray:
    flat = f.reshape(f.shape[0], -1)
    return flat @ flat.T / flat.shape[1]


def reference_masked_gram(f: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(F M)(F M)^T / sum(M^2) for features (C, h, w) and a mask (h, w)."""
    flat = (f * mask).reshape(f.shape[0], -1)
    return flat @ flat.T / np.sum(mask.astype(np.float64) ** 2)


def reference_loss(weights: WeightSet, pixels: np.ndarray, content_targets: dict, style_targets: dict,
                   content_weights: dict, style_weights: dict, tv_weight: float, pool: str = "max",
                   style_masks: dict | None = None) -> dict:
    """The loss terms of nst_graphs/loss_graph.py written directly in numpy (masks: (K, 1, h, w) per layer)."""
    feats = reference_features(weights, pixels, pool)
    content = sum(content_weights[k] * np.mean((feats[k] - np.squeeze(p, 0)) ** 2) for k, p in content_targets.items())
    if style_masks:
        style = sum(w * np.sum((reference_masked_gram(feats[k], m[0]) - a) ** 2) / a.shape[0] ** 2
                    for k in style_targets
                    for a, w, m in zip(style_targets[k], style_weights[k], style_masks[k]))
    else:
        style = sum(style_weights[k] * np.sum((reference_gram(feats[k]) - a) ** 2) / a.shape[0] ** 2
                    for k, a in style_targets.items())
    x = pixels.astype(np.float64)
    tv = tv_weight * (np.sum(np.diff(x, axis=1) ** 2) + np.sum(np.diff(x, axis=2) ** 2)) / x.size
    return {"loss": content + style + tv, "content_loss": content, "style_loss": style, "tv_loss": tv}
