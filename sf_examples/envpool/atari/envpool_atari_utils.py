"""EnvPool Atari: the same `atari_*` names as the ale-py integration, simulated in EnvPool's C++ thread pool
(ids `<Game>-v5`, no-op reset, max-and-skip, episodic life, fire reset, reward clip, 84x84 gray, frame stack)."""

from __future__ import annotations

from typing import Any

from sample_factory.envs.env_utils import register_env
from sample_factory.utils.typing import Config
from sf_examples.atari.atari_utils import ATARI_ENVS, ATARI_H, ATARI_W, atari_env_by_name
from sf_examples.envpool.envpool_utils import envpool_common_kwargs
from sf_examples.envpool.envpool_wrappers import EnvPoolBatchedEnv


def envpool_atari_settings(env_name: str, frameskip: int = 4, framestack: int = 4) -> dict[str, Any]:
    """EnvPool's Atari options for the NoFrameskip-v4 behaviour of an `atari_*` name (pool size and threads apart)."""
    return dict(
        episodic_life=True,
        reward_clip=True,
        max_episode_steps=atari_env_by_name(env_name).timeout // 4,
        frame_skip=frameskip,
        stack_num=framestack,
        noop_max=30,
        img_height=ATARI_H,
        img_width=ATARI_W,
        gray_scale=True,
        repeat_action_probability=0.0,
        full_action_space=False,
    )


def make_envpool_atari_env(
    env_name: str, cfg: Config, env_config: Any = None, render_mode: str | None = None
) -> EnvPoolBatchedEnv:
    import envpool

    spec = atari_env_by_name(env_name)
    frameskip = int(getattr(cfg, "env_frameskip", 4) or 4)
    kwargs = dict(
        envpool_common_kwargs(cfg, env_config),
        **envpool_atari_settings(env_name, frameskip, int(getattr(cfg, "env_framestack", 4) or 4)),
    )
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = envpool.make(f"{spec.game}-v5", env_type="gymnasium", **kwargs)
    return EnvPoolBatchedEnv(
        env, frameskip=frameskip, real_done_key="terminated", raw_reward_key="reward", render_mode=render_mode
    )


def register_envpool_atari_envs() -> None:
    for spec in ATARI_ENVS:
        register_env(spec.name, make_envpool_atari_env)
