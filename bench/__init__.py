"""The HTTP benchmark of the upload API; run it with ``python bench/run.py``."""
