"""PyTorch CPU baseline of one nst-ort loss+gradient evaluation (bench only, never a dependency).

Runs in its own venv (bench/requirements-torch.txt) and imports only torch, onnx and numpy.
The network is rebuilt from OUR exported features.onnx: the 1x1 preprocessing conv
(`preprocess.kernel`/`.bias`), the 3x3 convs (`conv{b}_{k}.kernel`/`.bias`), ReLUs and the
pools are read node by node (attributes included) up to the deepest layer the loss uses,
so both sides share weights, preprocessing and pooling exactly.

The loss is nst_graphs/loss_graph.py's, with the weights of nst_ort/core/timing.py:
  content  w * mean((F - P)^2)                    relu4_2
  style    w * sum((G - A)^2) / C^2, G = F F^T / N relu1_1 .. relu5_1
  tv       w * (sum dx^2 + sum dy^2) / (3 H W)      on the [0, 1] image
  w = global weight (1, 10, 1) / mean square of the layer's target (the "normalize" weights).

bench mode (one measurement per process, so peak RSS is this measurement's):
  python bench/torch_baseline.py --features models/vgg16/features.onnx --size 533x400 \
      --memory-format channels_last --threads 2 --warmup 2 --iterations 5
check mode (image, targets and weights from an .npz written by bench/compare.py):
  python bench/torch_baseline.py --features ... --check in.npz --out out.npz
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import resource
import statistics
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

CONTENT_LAYERS = {"relu4_2": 1.0}
STYLE_LAYERS = {name: 1.0 for name in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")}
CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT = 1.0, 10.0, 1.0  # as nst_ort/core/timing.py
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OnnxVgg:
    """The features model's Conv/Relu/MaxPool/AveragePool chain, replayed in torch."""

    def __init__(self, path: str, layers: set[str], dtype: torch.dtype, memory_format) -> None:
        model = onnx.load(path)
        initializers = {init.name: init for init in model.graph.initializer}
        array = lambda name: numpy_helper.to_array(initializers[name]).copy()  # noqa: E731 (writable)
        self.ops: list[tuple] = []
        self.weight_names: list[str] = []
        self.layers = set(layers)
        remaining, current = set(layers), model.graph.input[0].name
        for node in model.graph.node:
            if not remaining:
                break
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if node.input[0] != current:
                raise ValueError(f"{path}: node {node.name or node.op_type} does not continue the chain")
            current = node.output[0]
            if node.op_type == "Conv":
                self._expect(attrs, {"pads", "strides", "dilations", "group", "kernel_shape"}, node)
                if attrs.get("group", 1) != 1 or set(attrs.get("dilations", [1])) != {1}:
                    raise ValueError(f"unsupported Conv attributes {attrs}")
                kernel, bias = node.input[1], node.input[2] if len(node.input) > 2 else None
                if not (kernel == "preprocess.kernel" or (kernel.startswith("conv") and kernel.endswith(".kernel"))):
                    raise ValueError(f"unexpected conv weight name {kernel!r}")
                self.weight_names += [kernel] + ([bias] if bias else [])
                w = torch.from_numpy(array(kernel)).to(dtype).contiguous(memory_format=memory_format)
                b = torch.from_numpy(array(bias)).to(dtype) if bias else None
                self.ops.append(("conv", w.requires_grad_(False), b.requires_grad_(False) if b is not None else None,
                                 self._pads(attrs.get("pads", [0, 0, 0, 0])), tuple(attrs.get("strides", [1, 1]))))
            elif node.op_type == "Relu":
                self.ops.append(("relu", node.output[0]))
                remaining.discard(node.output[0])
            elif node.op_type in ("MaxPool", "AveragePool"):
                self._expect(attrs, {"kernel_shape", "strides", "pads", "ceil_mode", "count_include_pad"}, node)
                self.ops.append(("max" if node.op_type == "MaxPool" else "avg", tuple(attrs["kernel_shape"]),
                                 tuple(attrs.get("strides", [1, 1])), self._pads(attrs.get("pads", [0, 0, 0, 0])),
                                 bool(attrs.get("ceil_mode", 0)), bool(attrs.get("count_include_pad", 0))))
            else:
                raise ValueError(f"unsupported op {node.op_type} in {path}")
        if remaining:
            raise ValueError(f"layers {sorted(remaining)} not found in {path}")

    @staticmethod
    def _expect(attrs: dict, allowed: set[str], node) -> None:
        extra = set(attrs) - allowed
        if extra:
            raise ValueError(f"unsupported attributes {sorted(extra)} on {node.op_type}")

    @staticmethod
    def _pads(pads) -> tuple[int, int]:
        top, left, bottom, right = pads
        if (top, left) != (bottom, right):
            raise ValueError(f"asymmetric pads {pads} are not supported")
        return top, left

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for op in self.ops:
            kind = op[0]
            if kind == "conv":
                x = F.conv2d(x, op[1], op[2], stride=op[4], padding=op[3])
            elif kind == "relu":
                x = F.relu(x)
                if op[1] in self.layers:
                    out[op[1]] = x
            elif kind == "max":
                x = F.max_pool2d(x, op[1], op[2], op[3], ceil_mode=op[4])
            else:
                x = F.avg_pool2d(x, op[1], op[2], op[3], ceil_mode=op[4], count_include_pad=op[5])
        return out


def gram(features: torch.Tensor) -> torch.Tensor:
    """G = F F^T / N, (1, C, h, w) -> (C, C); a copy-free view in either memory format."""
    _, c, h, w = features.shape
    n = h * w
    if features.is_contiguous():
        flat = features.reshape(c, n)
        return flat @ flat.t() / n
    flat = features.permute(0, 2, 3, 1).reshape(n, c)  # channels_last: (N, C) is a view
    return flat.t() @ flat / n


class Loss:
    """nst_graphs/loss_graph.py's loss: content + style + total variation."""

    def __init__(self, net: OnnxVgg, content_targets: dict, style_targets: dict,
                 content_weights: dict, style_weights: dict, tv_weight: float) -> None:
        self.net, self.tv_weight = net, tv_weight
        self.content = {l: (content_targets[l], content_weights[l]) for l in content_targets}
        self.style = {l: (style_targets[l], style_weights[l]) for l in style_targets}

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.net(image)
        zero = image.new_zeros(())
        content = sum((w * torch.mean(torch.square(features[l] - p)) for l, (p, w) in self.content.items()), zero)
        style = sum((w * torch.sum(torch.square(gram(features[l]) - a)) / (a.shape[0] ** 2)
                     for l, (a, w) in self.style.items()), zero)
        dy = image[:, :, 1:, :] - image[:, :, :-1, :]
        dx = image[:, :, :, 1:] - image[:, :, :, :-1]
        tv = self.tv_weight * (torch.sum(torch.square(dx)) + torch.sum(torch.square(dy))) / image.numel()
        return {"loss": content + style + tv, "content_loss": content, "style_loss": style, "tv_loss": tv}


class Evaluator:
    """Pixels (3, H, W) numpy -> (terms, gradient copy): what one L-BFGS-B step needs."""

    def __init__(self, loss: Loss, shape: tuple[int, int], dtype: torch.dtype, memory_format) -> None:
        self.loss = loss
        self.image = torch.zeros((1, 3, *shape), dtype=dtype).contiguous(memory_format=memory_format)
        self.image.requires_grad_(True)

    def __call__(self, pixels: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        with torch.no_grad():
            self.image.copy_(torch.from_numpy(np.asarray(pixels))[None])
        self.image.grad = None
        terms = self.loss(self.image)
        terms["loss"].backward()
        grad = np.array(self.image.grad[0].numpy(), dtype=np.float32, order="C")  # copy, NCHW order
        return {k: float(v.detach()) for k, v in terms.items()}, grad


def _tensor(array, dtype, memory_format=None) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(array)).to(dtype)
    return t.contiguous(memory_format=memory_format) if memory_format is not None and t.dim() == 4 else t


def bench_targets(net: OnnxVgg, content: np.ndarray, style: np.ndarray, dtype, memory_format):
    """Targets and normalised weights as nst_ort.core.targets.loss_inputs computes them."""
    with torch.no_grad():
        fc = net(_tensor(content[None], dtype, memory_format))
        fs = net(_tensor(style[None], dtype, memory_format))
    content_targets = {l: fc[l].detach() for l in CONTENT_LAYERS}
    style_targets = {}
    for l in STYLE_LAYERS:
        f = fs[l].detach().double()
        style_targets[l] = gram(f.contiguous()).to(dtype)  # float64 Gram like ours, cast back

    def scale(t: torch.Tensor) -> float:
        return 1.0 / max(float(torch.mean(torch.square(t.double()))), 1e-12)

    content_weights = {l: CONTENT_WEIGHT * w * scale(content_targets[l]) for l, w in CONTENT_LAYERS.items()}
    style_weights = {l: STYLE_WEIGHT * w * scale(style_targets[l]) for l, w in STYLE_LAYERS.items()}
    return content_targets, style_targets, content_weights, style_weights


def versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
            "numpy": np.__version__, "mkldnn": torch.backends.mkldnn.is_available(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def run_bench(args) -> dict:
    width, height = (int(v) for v in args.size.lower().split("x"))
    fmt = FORMATS[args.memory_format]
    dtype = torch.float32
    began = time.perf_counter()
    net = OnnxVgg(args.features, set(CONTENT_LAYERS) | set(STYLE_LAYERS), dtype, fmt)
    rng = np.random.default_rng(args.seed)  # the same three images as nst_ort/core/timing.py
    content, style, start = (rng.uniform(0, 1, (3, height, width)).astype(np.float32) for _ in range(3))
    targets = bench_targets(net, content, style, dtype, fmt)
    evaluate = Evaluator(Loss(net, *targets, TV_WEIGHT), (height, width), dtype, fmt)
    setup = time.perf_counter() - began
    for _ in range(args.warmup):
        terms, _ = evaluate(start)
    times = []
    for _ in range(args.iterations):
        tick = time.perf_counter()
        terms, _ = evaluate(start)
        times.append(time.perf_counter() - tick)
    return {"implementation": "pytorch", "engine": f"pytorch-{args.memory_format}",
            "memory_format": args.memory_format, "width": width, "height": height,
            "threads": torch.get_num_threads(), "warmup": args.warmup, "evaluations": args.iterations,
            "median_seconds": statistics.median(times), "min_seconds": min(times), "times": times,
            "setup_seconds": setup, "peak_rss_bytes": peak_rss_bytes(), "loss": terms,
            "features": args.features, "features_sha256": sha256_file(args.features),
            "weights": net.weight_names, "versions": versions()}


def run_check(args) -> dict:
    data = np.load(args.check)
    layers = lambda prefix: [k.split(".", 1)[1] for k in data.files if k.startswith(prefix + ".")]  # noqa: E731
    content_layers, style_layers = layers("content_target"), layers("style_target")
    image = data["image"]
    report, arrays = {"shape": list(image.shape), "configs": {}}, {}
    for name, fmt_name, dtype in (("nchw_float32", "nchw", torch.float32),
                                  ("channels_last_float32", "channels_last", torch.float32),
                                  ("nchw_float64", "nchw", torch.float64)):
        fmt = FORMATS[fmt_name]
        net = OnnxVgg(args.features, set(content_layers) | set(style_layers), dtype, fmt)
        loss = Loss(net,
                    {l: _tensor(data[f"content_target.{l}"], dtype, fmt) for l in content_layers},
                    {l: _tensor(data[f"style_target.{l}"], dtype) for l in style_layers},
                    {l: float(data[f"content_weight.{l}"]) for l in content_layers},
                    {l: float(data[f"style_weight.{l}"]) for l in style_layers},
                    float(data["tv_weight"]))
        evaluate = Evaluator(loss, image.shape[1:], dtype, fmt)
        with torch.no_grad():
            evaluate.image.copy_(torch.from_numpy(image.astype(np.float64)).to(dtype)[None])
        evaluate.image.grad = None
        terms = loss(evaluate.image)
        terms["loss"].backward()
        grad = evaluate.image.grad[0].double().numpy().copy()
        report["configs"][name] = {**{k: float(v.detach()) for k, v in terms.items()},
                                   "grad_l2": float(np.linalg.norm(grad))}
        arrays[f"{name}.grad"] = grad
        for k, v in terms.items():
            arrays[f"{name}.{k}"] = np.float64(v.detach())
    if args.out:
        np.savez(args.out, **arrays)
    report["versions"] = versions()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", required=True, help="our exported features.onnx")
    parser.add_argument("--size", default="533x400", help="WIDTHxHEIGHT")
    parser.add_argument("--memory-format", choices=tuple(FORMATS), default="nchw")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=5, help="timed evaluations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", help=".npz with image, targets and weights: print loss and gradient")
    parser.add_argument("--out", help="check mode: write the losses and gradients to this .npz")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    result = run_check(args) if args.check else run_bench(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
