"""Engine on onnxruntime-training's on-device training API (Module + CheckpointState)."""

from __future__ import annotations

import numpy as np

from nst_base.model_store import ExportedModel, cache_key
from nst_graphs.features import IMAGE
from nst_graphs.loss_graph import LOSS_FORMAT, LOSS_OUTPUTS, build_loss_model
from nst_ort.platform import ort_training
from nst_ort.core.engines.base import EngineBase, Evaluation, LossInputs
from nst_ort.core.engines.training_artifacts import artifact_paths, write_training_artifacts
from nst_ort.platform.sessions import session_options


class TrainingEngine(EngineBase):
    """The image is the artifacts' single trainable parameter; artifacts are per size."""

    name = "training"

    def __init__(self, model: ExportedModel, inputs: LossInputs, shape: tuple[int, int],
                 threads: int = 0) -> None:
        api = ort_training.load("api")
        layers = inputs.layers
        key = cache_key("training", LOSS_FORMAT, model.manifest.files, layers, shape)

        def build(folder):
            loss_model = build_loss_model(model.load_features(), layers, image_shape=shape)
            write_training_artifacts(loss_model, folder)

        folder = model.cached_artifacts(f"train-{shape[0]}x{shape[1]}-{key}", build)
        training_model, eval_model, checkpoint = artifact_paths(folder)
        self._state = api.CheckpointState.load_checkpoint(str(checkpoint))
        self._module = api.Module(str(training_model), self._state, str(eval_model),
                                  session_options=session_options(threads))
        self._module.train()
        feeds = inputs.feeds()
        self._inputs = [feeds[name] for name in self._module.input_names()]
        self._parameter = self._state.parameters[IMAGE]
        self.shape = shape

    def evaluate(self, pixels: np.ndarray) -> Evaluation:
        self._parameter.data = np.ascontiguousarray(pixels[None], dtype=np.float32)
        self._module.lazy_reset_grad()  # gradients accumulate otherwise
        outputs = self._module(*self._inputs)
        terms = {name: float(value) for name, value in zip(LOSS_OUTPUTS, outputs)}
        # .grad is a view the next step overwrites: copy it
        grad = np.array(self._parameter.grad[0], dtype=np.float32)
        return Evaluation(terms["loss"], terms, grad)
