"""`nst serve`: a local web studio (the extra nst-ort[web]) over the same jobs as the CLI."""
