"""`EnvInfo`: what the sampler, the model and the learner need to know about an environment, probed once."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from sample_factory.utils.typing import Config
from sample_factory.utils.utils import log, project_tmp_dir

ENV_INFO_PROTOCOL_VERSION = 1


@dataclass
class EnvInfo:
    obs_space: gym.spaces.Dict
    action_space: gym.Space
    num_agents: int
    gpu_actions: bool = False
    gpu_observations: bool = False
    action_splits: list[int] | None = None
    all_discrete: bool | None = None
    frameskip: int = 1
    reward_shaping_scheme: dict[str, Any] | None = None
    env_info_protocol_version: int = ENV_INFO_PROTOCOL_VERSION
    extra: dict[str, Any] = field(default_factory=dict)


def as_dict_space(space: gym.Space) -> gym.spaces.Dict:
    """Observations are always dicts: a plain space becomes `Dict({'obs': space})`."""
    if isinstance(space, gym.spaces.Dict):
        return space
    return gym.spaces.Dict({"obs": space})


def _action_splits(action_space: gym.Space) -> tuple[list[int] | None, bool]:
    if isinstance(action_space, gym.spaces.Tuple):
        splits, discrete = [], True
        for sub in action_space.spaces:
            if isinstance(sub, gym.spaces.Discrete):
                splits.append(1)
            elif isinstance(sub, gym.spaces.Box):
                splits.append(int(sub.shape[0]))
                discrete = False
            else:
                raise TypeError(f"Tuple action spaces may hold Discrete and 1-D Box parts, got {sub}")
        return splits, discrete
    return None, isinstance(action_space, gym.spaces.Discrete | gym.spaces.MultiDiscrete)


def extract_env_info(env: Any, cfg: Config) -> EnvInfo:
    """Probe an env (single-agent, multi-agent or batched) for spaces, agent count and frameskip."""
    from sample_factory.envs.env_utils import get_default_reward_shaping

    obs_space = getattr(env, "single_observation_space", None) or env.observation_space
    action_space = getattr(env, "single_action_space", None) or env.action_space
    num_agents = int(getattr(env, "num_agents", 1))
    splits, all_discrete = _action_splits(action_space)
    frameskip = int(cfg.env_frameskip) if cfg is not None and getattr(cfg, "env_frameskip", None) else 1
    return EnvInfo(
        obs_space=as_dict_space(obs_space),
        action_space=action_space,
        num_agents=num_agents,
        gpu_actions=bool(getattr(cfg, "env_gpu_actions", False)),
        gpu_observations=bool(getattr(cfg, "env_gpu_observations", True))
        and bool(getattr(cfg, "actor_worker_gpus", [])),
        action_splits=splits,
        all_discrete=all_discrete,
        frameskip=frameskip,
        reward_shaping_scheme=get_default_reward_shaping(env),
    )


def _env_info_cache_file(cfg: Config) -> str:
    return os.path.join(project_tmp_dir(), f"env_info_{cfg.env}")


def _probe(cfg: Config) -> EnvInfo:
    from sample_factory.algo.utils.make_env import make_env_func_batched
    from sample_factory.utils.attr_dict import AttrDict

    env = make_env_func_batched(cfg, AttrDict(worker_index=0, vector_index=0, env_id=0), render_mode=None)
    try:
        return extract_env_info(env.env if hasattr(env, "slot_env") else env, cfg)
    finally:
        env.close()


def _probe_in_child(cfg: Config, conn: Any) -> None:
    try:
        conn.send(("ok", pickle.dumps(_probe(cfg))))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        import traceback

        conn.send(("error", f"{exc!r}\n{traceback.format_exc()}"))


def obtain_env_info_in_a_separate_process(cfg: Config) -> EnvInfo:
    """Probe the env in a spawned process (some simulators must not initialise in the main process)."""
    if getattr(cfg, "use_env_info_cache", False) and os.path.isfile(_env_info_cache_file(cfg)):
        with open(_env_info_cache_file(cfg), "rb") as f:
            return pickle.load(f)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_probe_in_child, args=(cfg, child), daemon=True)
    proc.start()
    status, payload = parent.recv()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"Could not create env {cfg.env!r} to read its spaces: {payload}")
    info = pickle.loads(payload)
    _maybe_cache(cfg, info)
    return info


def obtain_env_info(cfg: Config) -> EnvInfo:
    """Probe the env in this process (fast start), honouring `use_env_info_cache`."""
    if getattr(cfg, "use_env_info_cache", False) and os.path.isfile(_env_info_cache_file(cfg)):
        with open(_env_info_cache_file(cfg), "rb") as f:
            return pickle.load(f)
    info = _probe(cfg)
    _maybe_cache(cfg, info)
    return info


def _maybe_cache(cfg: Config, info: EnvInfo) -> None:
    if getattr(cfg, "use_env_info_cache", False):
        with open(_env_info_cache_file(cfg), "wb") as f:
            pickle.dump(info, f)
        log.debug("Cached env info in %s", _env_info_cache_file(cfg))
