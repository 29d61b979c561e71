"""Start-up of a training run: probe the env, validate and prepare the experiment folder, seed."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from sample_factory.algo.utils.misc import ExperimentStatus
from sample_factory.utils.typing import StatusCode
from sample_factory.utils.utils import log


def start_experiment(runner: Any) -> StatusCode:
    """Fill `runner.cfg` and `runner.env_info`; FAILURE (with a one-line reason) when the config or env is bad."""
    from sample_factory.algo.utils.env_info import obtain_env_info
    from sample_factory.cfg.experiment import prepare_experiment
    from sample_factory.cfg.verify import ConfigError

    cfg = runner.cfg
    try:
        env_info = obtain_env_info(cfg)
    except ValueError as exc:
        log.error("%s", exc)
        return ExperimentStatus.FAILURE
    try:
        cfg = prepare_experiment(cfg, env_info)
    except ConfigError as exc:
        for line in str(exc).splitlines() or [str(exc)]:
            log.error("%s", line)
        return ExperimentStatus.FAILURE
    runner.cfg = cfg
    runner.env_info = env_info
    if cfg.seed is not None:
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
    log.info(
        "Env %s: obs %s, actions %s, %d agent(s) per env",
        cfg.env,
        dict(env_info.obs_space.spaces),
        env_info.action_space,
        env_info.num_agents,
    )
    for o in runner.observers:
        o.on_init(runner)
    return ExperimentStatus.SUCCESS
