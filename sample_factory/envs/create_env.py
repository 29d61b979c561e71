"""`create_env`: build an environment from the registry, with the wrappers the config asks for."""

from __future__ import annotations

from typing import Any

from sample_factory.envs.env_utils import env_registry_entry
from sample_factory.utils.typing import Config


def create_env(full_env_name: str, cfg: Config = None, env_config: Any = None, render_mode: str | None = None) -> Any:
    """Call the registered factory positionally: `factory(full_env_name, cfg, env_config, render_mode)`.

    Raises ValueError (listing the registered names) for an unknown env.
    """
    factory = env_registry_entry(full_env_name)
    env = factory(full_env_name, cfg, env_config, render_mode)
    if cfg is not None and getattr(cfg, "episode_counter", False):
        from sample_factory.envs.env_wrappers import EpisodeCounterWrapper

        env = EpisodeCounterWrapper(env)
    return env
