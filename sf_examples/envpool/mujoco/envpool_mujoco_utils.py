"""EnvPool MuJoCo: the `mujoco_*` names (same `-v5` ids as the gymnasium integration) as one EnvPool batch."""

from __future__ import annotations

from typing import Any

import numpy as np

from sample_factory.envs.env_utils import register_env
from sample_factory.utils.typing import Config
from sf_examples.envpool.envpool_utils import envpool_common_kwargs
from sf_examples.envpool.envpool_wrappers import EnvPoolBatchedEnv
from sf_examples.mujoco.mujoco_utils import MUJOCO_ENVS, mujoco_env_by_name


def make_envpool_mujoco_env(
    env_name: str, cfg: Config, env_config: Any = None, render_mode: str | None = None
) -> EnvPoolBatchedEnv:
    import envpool

    spec = mujoco_env_by_name(env_name)
    kwargs = envpool_common_kwargs(cfg, env_config)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = envpool.make(spec.env_id, env_type="gymnasium", **kwargs)
    return EnvPoolBatchedEnv(env, obs_dtype=np.float32, render_mode=render_mode)


def register_envpool_mujoco_envs() -> None:
    for spec in MUJOCO_ENVS:
        register_env(spec.name, make_envpool_mujoco_env)
