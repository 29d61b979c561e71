"""MuJoCo through gymnasium 1.x: the 11 `mujoco_*` env names (mapped to gymnasium's current `-v5` ids; the `-v4`
ids the names stood for still register but are deprecated) and `make_mujoco_env`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from sample_factory.envs.env_utils import register_env
from sample_factory.utils.typing import Config

MUJOCO_VERSION = "v5"

# Off-screen rendering (enjoy --save_video) needs a GL backend; without a display the default (glfw) fails,
# EGL works headless. Must be set before mujoco is imported; an explicit MUJOCO_GL wins.
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")


@dataclass(frozen=True)
class MujocoSpec:
    name: str  # our --env name
    env_id: str  # gymnasium id (EnvPool uses the same id)


_TASKS = {
    "mujoco_hopper": "Hopper",
    "mujoco_halfcheetah": "HalfCheetah",
    "mujoco_humanoid": "Humanoid",
    "mujoco_ant": "Ant",
    "mujoco_standup": "HumanoidStandup",
    "mujoco_doublependulum": "InvertedDoublePendulum",
    "mujoco_pendulum": "InvertedPendulum",
    "mujoco_reacher": "Reacher",
    "mujoco_walker": "Walker2d",
    "mujoco_pusher": "Pusher",
    "mujoco_swimmer": "Swimmer",
}

MUJOCO_ENVS: list[MujocoSpec] = [MujocoSpec(name, f"{task}-{MUJOCO_VERSION}") for name, task in _TASKS.items()]
_BY_NAME = {spec.name: spec for spec in MUJOCO_ENVS}


def mujoco_env_by_name(name: str) -> MujocoSpec:
    if name not in _BY_NAME:
        raise ValueError(f"Unknown MuJoCo env {name!r}; known: {', '.join(sorted(_BY_NAME))}")
    return _BY_NAME[name]


def make_mujoco_env(
    env_name: str, _cfg: Config = None, env_config: Any = None, render_mode: str | None = None
) -> gym.Env:
    """`gym.make` of the task (1000-step time limit, continuous Box actions), float32 observations (the simulator
    gives float64); seeded from env_config when given."""
    spec = mujoco_env_by_name(env_name)
    env = gym.make(spec.env_id, render_mode=render_mode)
    env = gym.wrappers.DtypeObservation(env, np.float32)
    if env_config is not None:
        seed = int(env_config["worker_index"]) * 1000 + int(env_config["vector_index"])
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def register_mujoco_envs() -> None:
    for spec in MUJOCO_ENVS:
        register_env(spec.name, make_mujoco_env)
