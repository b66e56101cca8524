"""zoo-cigin: the CIGIN pair model."""
