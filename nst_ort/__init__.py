"""nst-ort: neural style transfer (Gatys et al.) on ONNX Runtime.

The run time: image I/O, loss targets, gradient engines, the L-BFGS-B loop and reports.
Exported models come from the `export` package (one-time step).
"""

__version__ = "0.1.0"
