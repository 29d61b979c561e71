"""Upstream's import path for the Lamb optimizer (`sample_factory.algo.utils.optimizers.Lamb`); a re-export."""

from __future__ import annotations

from sample_factory.algo.learning.optimizers import Lamb, make_optimizer

__all__ = ["Lamb", "make_optimizer"]
