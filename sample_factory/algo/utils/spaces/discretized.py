"""`Discretized`: a Discrete action space whose actions stand for evenly spaced continuous values."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class Discretized(gym.spaces.Discrete):
    """`n` actions mapped linearly onto [min_action, max_action] (action 0 -> min, action n-1 -> max).

    The model treats it as a plain Discrete space; the env converts with `to_continuous`.
    """

    def __init__(self, n: int, min_action: float, max_action: float, seed: int | None = None):
        if n < 2:
            raise ValueError(f"Discretized needs at least 2 actions, got n={n}")
        super().__init__(n, seed=seed)
        self.min_action = float(min_action)
        self.max_action = float(max_action)

    def to_continuous(self, discrete_action: int | np.ndarray) -> float | np.ndarray:
        step = (self.max_action - self.min_action) / (self.n - 1)
        value = self.min_action + np.asarray(discrete_action, dtype=np.float64) * step
        return float(value) if value.ndim == 0 else value

    def __repr__(self) -> str:
        return f"Discretized({self.n}, {self.min_action}, {self.max_action})"
