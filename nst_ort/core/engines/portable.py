"""Engine on a plain onnxruntime InferenceSession: forward and backward in standard ONNX ops.

The gradient model (nst_graphs/gradient_graph.py) has a dynamic image size, so one cached file
per (features model, layers) serves every size. Targets and weights are bound once as
OrtValues and stay resident; the image is copied into one bound buffer per evaluation and
the gradient is written into a bound output buffer.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from nst_base.errors import NstError
from nst_base.model_store import ExportedModel
from nst_graphs.features import IMAGE
from nst_graphs.gradient_graph import GRAD, gradient_model_path
from nst_graphs.loss_graph import LOSS_OUTPUTS
from nst_ort.core.engines.base import EngineBase, Evaluation, LossInputs
from nst_ort.platform.sessions import session_options

# where an execution provider keeps its tensors, as OrtValue device names
_DEVICES = {"CUDAExecutionProvider": "cuda", "ROCMExecutionProvider": "cuda", "DmlExecutionProvider": "dml"}


class PortableEngine(EngineBase):
    name = "portable"

    def __init__(self, model: ExportedModel, inputs: LossInputs, shape: tuple[int, int],
                 threads: int = 0, provider: str = "CPUExecutionProvider", conv: str = "direct") -> None:
        available = ort.get_available_providers()
        if provider not in available:
            raise NstError(f"execution provider {provider!r} is not available in this onnxruntime; "
                           f"available: {', '.join(available)}")
        path = gradient_model_path(model, inputs.layers, conv)
        providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
        options = session_options(threads, shared_arena=True)
        self._session = ort.InferenceSession(path, options, providers=providers)
        device = _DEVICES.get(provider, "cpu")
        self.shape = shape
        self._binding = self._session.io_binding()
        # OrtValues made from numpy on the CPU share the array's memory: keep both alive
        self._constants = {name: ort.OrtValue.ortvalue_from_numpy(value, device)
                           for name, value in inputs.feeds().items()}
        wanted = {i.name for i in self._session.get_inputs()}
        for name in wanted - {IMAGE}:
            self._binding.bind_ortvalue_input(name, self._constants[name])
        self._image = ort.OrtValue.ortvalue_from_shape_and_type([1, 3, *shape], np.float32, device)
        self._binding.bind_ortvalue_input(IMAGE, self._image)
        self._grad = ort.OrtValue.ortvalue_from_shape_and_type([1, 3, *shape], np.float32, device)
        for name in LOSS_OUTPUTS:
            self._binding.bind_output(name, device)
        self._binding.bind_ortvalue_output(GRAD, self._grad)

    def evaluate(self, pixels: np.ndarray) -> Evaluation:
        if pixels.shape != (3, *self.shape):
            raise NstError(f"this engine evaluates images of shape {(3, *self.shape)}, not {pixels.shape}")
        self._image.update_inplace(np.ascontiguousarray(pixels[None], dtype=np.float32))
        self._session.run_with_iobinding(self._binding)
        outputs = self._binding.get_outputs()  # in binding order: LOSS_OUTPUTS, then GRAD
        terms = {name: float(value.numpy()) for name, value in zip(LOSS_OUTPUTS, outputs)}
        grad = np.array(self._grad.numpy()[0], dtype=np.float32, copy=True)
        return Evaluation(terms["loss"], terms, grad)
