"""One env as a vector of agent slots: single-agent, multi-agent and batched envs behind one interface.

The sampler drives `SlotEnv` objects only: `reset()` and `step(actions)` exchange numpy arrays with one row per
slot, so single-agent envs, multi-agent envs (lists per agent, auto-reset) and batched simulators (EnvPool, arrays
per env) all fill the same trajectory buffers (design principle 7).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from sample_factory.algo.utils.env_info import as_dict_space
from sample_factory.envs.create_env import create_env
from sample_factory.utils.typing import Config


def _stack_obs(obs_list: list[Any], keys: list[str]) -> dict[str, np.ndarray]:
    if isinstance(obs_list[0], dict):
        return {k: np.stack([np.asarray(o[k]) for o in obs_list]) for k in keys}
    return {"obs": np.stack([np.asarray(o) for o in obs_list])}


def _batched_obs(obs: Any) -> dict[str, np.ndarray]:
    if isinstance(obs, dict):
        return {k: np.asarray(v) for k, v in obs.items()}
    return {"obs": np.asarray(obs)}


def _infos_list(infos: Any, n: int) -> list[dict]:
    if isinstance(infos, list | tuple):
        return list(infos) if len(infos) == n else [{} for _ in range(n)]
    if isinstance(infos, dict) and infos:
        # batched envs may return a dict of arrays: split it per slot
        out: list[dict] = [{} for _ in range(n)]
        for k, v in infos.items():
            if isinstance(v, np.ndarray | list | tuple) and len(v) == n:
                for i in range(n):
                    out[i][k] = v[i]
        return out
    return [{} for _ in range(n)]


class SlotEnv:
    """Adapter presenting any env as `num_agents` slots; finished single-agent episodes are reset here."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.slot_env = True
        self.num_agents = int(getattr(env, "num_agents", 1))
        self.multi = self.num_agents > 1 or bool(getattr(env, "is_multiagent", False))
        obs_space = getattr(env, "single_observation_space", None) or env.observation_space
        self.observation_space = as_dict_space(obs_space)
        self.action_space = getattr(env, "single_action_space", None) or env.action_space
        self.obs_keys = list(self.observation_space.spaces.keys())
        self._batched_actions = bool(getattr(env, "batched_actions", False))

    def reset(self, seed: int | None = None) -> tuple[dict[str, np.ndarray], list[dict]]:
        obs, info = self.env.reset(seed=seed)
        if not self.multi:
            return _stack_obs([obs], self.obs_keys), [info]
        if isinstance(obs, list | tuple):
            return _stack_obs(list(obs), self.obs_keys), _infos_list(info, self.num_agents)
        return _batched_obs(obs), _infos_list(info, self.num_agents)

    def step(
        self, actions: np.ndarray, env_actions: list[Any]
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """`actions`: the raw action rows; `env_actions`: the same converted to the env's format, one per slot."""
        if not self.multi:
            obs, rew, terminated, truncated, info = self.env.step(env_actions[0])
            if terminated or truncated:
                obs, _reset_info = self.env.reset()
            return (
                _stack_obs([obs], self.obs_keys),
                np.asarray([rew], dtype=np.float32),
                np.asarray([terminated], dtype=bool),
                np.asarray([truncated], dtype=bool),
                [info],
            )
        act = actions if self._batched_actions else env_actions
        obs, rew, terminated, truncated, infos = self.env.step(act)
        obs_d = _stack_obs(list(obs), self.obs_keys) if isinstance(obs, list | tuple) else _batched_obs(obs)
        return (
            obs_d,
            np.asarray(rew, dtype=np.float32).reshape(self.num_agents),
            np.asarray(terminated, dtype=bool).reshape(self.num_agents),
            np.asarray(truncated, dtype=bool).reshape(self.num_agents),
            _infos_list(infos, self.num_agents),
        )

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


def make_env_func_batched(cfg: Config, env_config: Any, render_mode: str | None = None) -> SlotEnv:
    """Create the env named by `cfg.env` and present it as a vector of slots."""
    env = create_env(cfg.env, cfg=cfg, env_config=env_config, render_mode=render_mode)
    return SlotEnv(env)


def env_seed(cfg: Config, global_env_idx: int) -> int | None:
    """Seeds derive from `--seed` when given, else from the env index (distinct per env either way)."""
    base = getattr(cfg, "seed", None)
    if base is None:
        return global_env_idx
    return int(base) * 1_000_003 + global_env_idx


def is_image_space(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and len(space.shape) >= 2
