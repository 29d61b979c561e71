"""Command-line parameters shared by the EnvPool integrations and the `envpool.make` call that uses them."""

from __future__ import annotations

import multiprocessing
from argparse import ArgumentParser
from typing import Any

from sample_factory.utils.typing import Config


def add_envpool_common_args(_env: str, parser: ArgumentParser) -> None:
    p = parser
    p.add_argument(
        "--envpool_num_threads",
        default=multiprocessing.cpu_count(),
        type=int,
        help="Number of EnvPool worker threads (capped at the number of envs in the batch)",
    )
    p.add_argument(
        "--envpool_thread_affinity_offset",
        default=-1,
        type=int,
        help="Pin EnvPool threads to cores starting at this index (-1: no pinning)",
    )


def add_env_agents_arg(parser: ArgumentParser, default: int) -> None:
    parser.add_argument(
        "--env_agents",
        default=default,
        type=int,
        help="Number of simulators in one EnvPool batch (each is one agent slot of the batched env)",
    )


def envpool_seed(env_config: Any) -> int:
    """A distinct base seed per batch: `env_id * 1000` (EnvPool seeds env i of the batch with seed + i)."""
    if env_config is None:
        return 0
    env_id = env_config["env_id"] if "env_id" in env_config else env_config.get("vector_index", 0)
    return int(env_id) * 1000


def envpool_common_kwargs(cfg: Config, env_config: Any) -> dict[str, Any]:
    num_envs = int(cfg.env_agents)
    return dict(
        num_envs=num_envs,
        batch_size=num_envs,  # synchronous: every step returns all envs
        num_threads=max(1, min(int(cfg.envpool_num_threads), num_envs)),
        thread_affinity_offset=int(cfg.envpool_thread_affinity_offset),
        seed=envpool_seed(env_config),
    )
