"""The algorithm version stamp written into checkpoints and summaries."""

ALGO_VERSION = 2
