"""The ONNX graphs both the export and the run time build: the VGG layer tables (networks),
the features model (features), the loss (loss_graph), the loss with its hand-written gradient
(gradient_graph) and one tile's share of that gradient (tile_graph), on a small builder (graph).
Above `nst_base`, below `export` and `nst_ort`: it imports neither (pyproject.toml's
[tool.importlinter] contracts, tests/test_layers.py)."""
