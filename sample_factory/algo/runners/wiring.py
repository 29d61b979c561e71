"""All the wiring in one place: buffers, channels and trajectory pools, and the components that use them.

rollout workers --req(traj, t)--> inference workers --act--> rollout workers
rollout workers --traj(indices)--> learner of that policy --free(indices)--> owning rollout worker
every component --episodes/train/timing/error--> runner
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from sample_factory.algo.utils.buffers import SharedState, TrajectoryBuffers
from sample_factory.algo.utils.env_info import EnvInfo
from sample_factory.utils.typing import Config


def fused_inference(cfg: Config) -> bool:
    """On the CPU, each rollout worker process runs its own inference (no inter-process hop per env step, and no
    extra processes competing for cores); `policy_workers_per_policy` separate inference processes batch requests
    of many workers on the GPU."""
    forced = os.environ.get("SF_FUSED_INFERENCE")
    if forced in ("0", "1"):
        return not cfg.serial_mode and forced == "1"
    return not cfg.serial_mode and cfg.device != "gpu"


def num_inference_workers(cfg: Config) -> int:
    return cfg.num_workers if fused_inference(cfg) else cfg.policy_workers_per_policy


@dataclass
class Channels:
    runner: Any
    rollout: list[Any]
    inference: list[list[Any]]  # [policy_id][inference worker idx]
    learner: list[Any]  # [policy_id]
    fused: bool = False

    def inference_target(self, policy_id: int, worker_idx: int, request_no: int) -> Any:
        workers = self.inference[policy_id]
        return workers[worker_idx] if self.fused else workers[request_no % len(workers)]


def make_channels(cfg: Config, factory: Any) -> Channels:
    """Fused inference channels never leave their rollout worker's process, so they are plain in-process queues."""
    from sample_factory.algo.utils.channels import LocalChannel

    fused = fused_inference(cfg)
    inference_factory = LocalChannel if fused else factory
    return Channels(
        runner=factory(),
        rollout=[factory() for _ in range(cfg.num_workers)],
        inference=[[inference_factory() for _ in range(num_inference_workers(cfg))] for _ in range(cfg.num_policies)],
        learner=[factory() for _ in range(cfg.num_policies)],
        fused=fused,
    )


def trajectories_per_dataset(cfg: Config) -> int:
    return cfg.batch_size * cfg.num_batches_per_epoch // cfg.rollout


def trajectory_pool_sizes(cfg: Config, env_info: EnvInfo) -> list[int]:
    """How many trajectory buffers each rollout worker owns.

    Sync mode: exactly the slots of the worker times the rounds that make one dataset per policy, so sampling pauses
    until the learner has trained and released them. Async mode: one trajectory in flight per slot, plus room for
    `num_batches_to_accumulate` datasets of every policy (back-pressure when the learner falls behind).
    """
    slots_w = cfg.num_envs_per_worker * env_info.num_agents
    total_slots = slots_w * cfg.num_workers
    b = trajectories_per_dataset(cfg)
    if not cfg.async_rl:
        rounds = max(1, b * cfg.num_policies // total_slots)
        return [slots_w * rounds] * cfg.num_workers
    # A worker waits for buffers only once all its trajectories are complete and queued at learners; with room for
    # `rounds * num_batches_to_accumulate` rounds (rounds counts all policies) across the workers, some learner
    # then holds a full dataset, so sampling never deadlocks, and experience is at most that many datasets old.
    rounds = math.ceil(b * cfg.num_policies / total_slots)
    return [slots_w * rounds * cfg.num_batches_to_accumulate] * cfg.num_workers


@dataclass
class Plane:
    buffers: TrajectoryBuffers
    shared: SharedState
    pools: list[list[int]]
    component_names: list[str]


def component_names(cfg: Config) -> list[str]:
    names = [f"RolloutWorker_w{i}" for i in range(cfg.num_workers)]
    names += [f"InferenceWorker_p{p}-w{k}" for p in range(cfg.num_policies) for k in range(num_inference_workers(cfg))]
    names += [f"Learner_p{p}" for p in range(cfg.num_policies)]
    return names


def make_plane(cfg: Config, env_info: EnvInfo, share: bool) -> Plane:
    sizes = trajectory_pool_sizes(cfg, env_info)
    pools, start = [], 0
    for n in sizes:
        pools.append(list(range(start, start + n)))
        start += n
    names = component_names(cfg)
    buffers = TrajectoryBuffers(cfg, env_info, start, share=share)
    shared = SharedState(cfg.num_policies, len(names), share)
    return Plane(buffers, shared, pools, names)
