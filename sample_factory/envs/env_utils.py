"""The environment registry (`register_env`) and the optional interfaces an env can implement."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from sample_factory.utils.utils import log

# make_env_func(full_env_name, cfg, env_config, render_mode) -> gymnasium.Env
EnvFactory = Callable[..., Any]

_ENV_REGISTRY: dict[str, EnvFactory] = {}


class EnvCriticalError(Exception):
    """Raised by an env when it cannot continue; the run stops and names the env."""


def register_env(env_name: str, make_env_func: EnvFactory) -> None:
    """Register `make_env_func(full_env_name, cfg, env_config, render_mode)` under `env_name`."""
    if not callable(make_env_func):
        raise TypeError(f"register_env({env_name!r}, ...): the factory must be callable, got {make_env_func!r}")
    if env_name in _ENV_REGISTRY and _ENV_REGISTRY[env_name] is not make_env_func:
        log.warning("Environment %r is registered again: the new factory replaces the old one", env_name)
    _ENV_REGISTRY[env_name] = make_env_func


def registered_env_names() -> list[str]:
    return sorted(_ENV_REGISTRY)


def is_gymnasium_id(env_name: str) -> bool:
    """True when `env_name` is an id registered in gymnasium (e.g. 'Pendulum-v1')."""
    import gymnasium as gym

    return env_name in gym.registry


def _gymnasium_factory(full_env_name: str, cfg: Any = None, env_config: Any = None, render_mode: str | None = None):
    import gymnasium as gym

    return gym.make(full_env_name, render_mode=render_mode)


def env_registry_entry(env_name: str) -> EnvFactory:
    """The factory for `env_name`; any gymnasium id works without registration. Unknown names raise ValueError."""
    if env_name in _ENV_REGISTRY:
        return _ENV_REGISTRY[env_name]
    if is_gymnasium_id(env_name):
        return _gymnasium_factory
    raise ValueError(unknown_env_message(env_name))


def unknown_env_message(env_name: str) -> str:
    names = registered_env_names()
    close = difflib.get_close_matches(env_name, names, n=1)
    hint = f" Did you mean --env={close[0]}?" if close else ""
    listing = ", ".join(names) if names else "(none)"
    return (
        f"--env={env_name} is not a registered environment.{hint} Registered: {listing}. "
        "Any gymnasium id also works; register others with sample_factory.envs.env_utils.register_env()."
    )


class TrainingInfoInterface:
    """Envs implementing this receive `{'approx_total_training_steps': ...}` and similar during training."""

    def __init__(self) -> None:
        self.training_info: dict[str, Any] = {}

    def set_training_info(self, training_info: dict[str, Any]) -> None:
        self.training_info = training_info


class RewardShapingInterface:
    """Envs implementing this expose a reward-shaping dict that the runner (or PBT) can change."""

    def get_default_reward_shaping(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def set_reward_shaping(self, reward_shaping: dict[str, Any], agent_idx: int | slice) -> None:
        raise NotImplementedError


def find_wrapper_interface(env: Any, interface_type: type) -> Any | None:
    """Walk the wrapper chain and return the first env that is an instance of `interface_type`."""
    seen = 0
    while env is not None and seen < 100:
        if isinstance(env, interface_type):
            return env
        env = getattr(env, "env", None)
        seen += 1
    return None


def get_default_reward_shaping(env: Any) -> dict[str, Any] | None:
    iface = find_wrapper_interface(env, RewardShapingInterface)
    return iface.get_default_reward_shaping() if iface is not None else None


def set_reward_shaping(env: Any, reward_shaping: dict[str, Any], agent_idx: int | slice) -> None:
    iface = find_wrapper_interface(env, RewardShapingInterface)
    if iface is not None:
        iface.set_reward_shaping(reward_shaping, agent_idx)


def set_training_info(env: Any, training_info: dict[str, Any]) -> None:
    iface = find_wrapper_interface(env, TrainingInfoInterface)
    if iface is not None:
        iface.set_training_info(training_info)
