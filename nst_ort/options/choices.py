"""The named values options take, and the rule between them that the engines also enforce.

Declared here, below everything that loads onnxruntime, so the option schema (and `nst
--help`, and an option error) needs none of the engines; the engines, optimisers and colour
modes import their names from here.
"""

from __future__ import annotations

from nst_base.errors import NstError

ENGINES = ("training", "portable")  # gradient engines (core/engines/factory.py builds them)
ENGINE_CHOICES = ("auto", *ENGINES)
CPU = "CPUExecutionProvider"
CONVS = ("auto", "direct", "winograd")  # how the portable engine runs 3x3 convolutions (nst_graphs/winograd.py)
OPTIMIZERS = ("lbfgs", "adam", "sgd", "scipy-lbfgsb")  # core/optimizers
STYLE_LOSSES = ("gram", "w2")  # core/engines/style_losses.py
CONVENTIONS = ("relative", "raw", "keras-book", "tf-course")  # what the weights multiply (core/targets.py)
NON_GRAM_CONVENTIONS = ("relative", "raw")  # the weight conventions that define a loss other than the Gram's
COLOR_MODES = ("luminance", "histogram")  # --preserve-colors (core/colors.py)
INITS = ("content", "noise", "gray")  # --init's words (else an image file)


def check_supported(style_loss: str, engine: str | None = None, provider: str | None = None,
                    convention: str | None = None) -> None:
    """One line when a loss other than the Gram's is asked of an engine, provider or weight
    convention only the Gram loss runs on (None: not checked here)."""
    if style_loss == "gram":
        return
    if engine == "training" or provider not in (None, CPU):
        raise NstError(f"--style-loss {style_loss} runs on the CPU with the portable engine (the default): "
                       "leave --engine and --provider out")
    if convention is not None and convention not in NON_GRAM_CONVENTIONS:
        raise NstError(f"the {convention} convention defines Gram losses only: use --style-loss gram with it")


def check_conv(conv: str, engine: str | None) -> None:
    """One line when Winograd convolutions are asked of the training engine (its graph is
    differentiated by onnxruntime-training from the direct form)."""
    if conv == "winograd" and engine == "training":
        raise NstError("--conv winograd runs on the portable engine (the default): leave --engine out, "
                       "or use --conv direct")
