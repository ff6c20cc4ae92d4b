"""The `nst` command line (nst_ort/cli/main.py)."""

from nst_ort.cli.main import app, main

__all__ = ["app", "main"]
