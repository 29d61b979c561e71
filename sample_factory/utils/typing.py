"""Type aliases used across the public API (`Config`, `Env`, spaces, `PolicyID`)."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from typing import Any

import gymnasium as gym

from sample_factory.utils.attr_dict import AttrDict

Config = Namespace | AttrDict | Any
StatusCode = int
PolicyID = int
Device = str
ObsSpace = gym.Space
ActionSpace = gym.Space
Env = gym.Env
MpQueue = Any
InitModelData = tuple[PolicyID, dict | None, Any, int]
CfgParser = ArgumentParser
