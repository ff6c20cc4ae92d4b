"""`python -m nst_ort`: the `nst` command."""

from nst_ort.cli import main

main()
