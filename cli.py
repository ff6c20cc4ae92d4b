"""The checkout's entry point: `python cli.py ...` or `python -m cli ...` from the repository
root runs the `nst` command (installed, it is `nst` or `python -m nst_ort`)."""

from nst_ort.entry import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
