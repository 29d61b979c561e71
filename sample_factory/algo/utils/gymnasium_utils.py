"""`convert_space`: turn a legacy `gym` space (or anything shaped like one) into the gymnasium equivalent."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def convert_space(space: Any) -> gym.Space:
    """Box, Discrete, MultiDiscrete, MultiBinary, Tuple and Dict from old gym become gymnasium spaces."""
    if isinstance(space, gym.Space):
        return space
    name = type(space).__name__
    if name == "Box":
        return gym.spaces.Box(np.asarray(space.low), np.asarray(space.high), dtype=space.dtype)
    if name == "Discrete":
        return gym.spaces.Discrete(int(space.n), start=int(getattr(space, "start", 0)))
    if name == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(np.asarray(space.nvec))
    if name == "MultiBinary":
        return gym.spaces.MultiBinary(space.n)
    if name == "Tuple":
        return gym.spaces.Tuple([convert_space(s) for s in space.spaces])
    if name == "Dict":
        return gym.spaces.Dict({k: convert_space(s) for k, s in space.spaces.items()})
    raise TypeError(f"Cannot convert space {space!r} to a gymnasium space")
