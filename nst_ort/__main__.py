"""`python -m nst_ort`: the `nst` command."""

from nst_ort.entry import main

main()
