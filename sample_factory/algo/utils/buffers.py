"""The data plane: preallocated trajectory tensors shared by every component (docs/architecture.md).

Rollout workers write observations, rewards and dones; inference workers write actions, log-probs, values and the
next core state; learners gather whole trajectories by index. Only indices travel on channels.
"""

from __future__ import annotations

from typing import Any

import torch

from sample_factory.algo.utils.env_info import EnvInfo
from sample_factory.algo.utils.torch_utils import to_torch_dtype
from sample_factory.utils.typing import Config


def torch_dtype(np_dtype: Any) -> torch.dtype:
    """Buffer dtype of an observation space: its own, except float64, which is stored as float32."""
    dtype = to_torch_dtype(np_dtype)
    return torch.float32 if dtype == torch.float64 else dtype


class TrajectoryBuffers:
    """`num_traj` trajectories of `rollout` steps (obs, rnn_states: rollout+1 steps)."""

    def __init__(self, cfg: Config, env_info: EnvInfo, num_traj: int, share: bool) -> None:
        from sample_factory.model.action_distributions import action_buffer_spec, calc_num_action_logits
        from sample_factory.model.actor_critic import get_rnn_size

        T = cfg.rollout
        self.num_traj, self.rollout = num_traj, T
        self.obs: dict[str, torch.Tensor] = {}
        for key, space in env_info.obs_space.spaces.items():
            self.obs[key] = torch.zeros((num_traj, T + 1, *(space.shape or ())), dtype=torch_dtype(space.dtype))
        act_shape, act_dtype = action_buffer_spec(env_info.action_space)
        self.rnn_states = torch.zeros((num_traj, T + 1, get_rnn_size(cfg)), dtype=torch.float32)
        self.actions = torch.zeros((num_traj, T, *act_shape), dtype=act_dtype)
        self.action_logits = torch.zeros((num_traj, T, calc_num_action_logits(env_info.action_space)))
        self.log_prob_actions = torch.zeros((num_traj, T))
        self.values = torch.zeros((num_traj, T))
        self.rewards = torch.zeros((num_traj, T))
        self.dones = torch.zeros((num_traj, T), dtype=torch.bool)
        self.time_outs = torch.zeros((num_traj, T), dtype=torch.bool)
        self.policy_version = torch.zeros((num_traj, T), dtype=torch.int64)
        self.policy_id = torch.full((num_traj, T), -1, dtype=torch.int64)
        if share:
            for t in self._all_tensors():
                t.share_memory_()

    def _all_tensors(self) -> list[torch.Tensor]:
        return [*self.obs.values(), *(v for k, v in self.flat_items() if k != "obs")]

    def flat_items(self) -> list[tuple[str, Any]]:
        return [
            ("obs", self.obs),
            ("rnn_states", self.rnn_states),
            ("actions", self.actions),
            ("action_logits", self.action_logits),
            ("log_prob_actions", self.log_prob_actions),
            ("values", self.values),
            ("rewards", self.rewards),
            ("dones", self.dones),
            ("time_outs", self.time_outs),
            ("policy_version", self.policy_version),
            ("policy_id", self.policy_id),
        ]

    def gather(self, traj_indices: list[int], device: torch.device | None = None) -> dict[str, Any]:
        """Copy the given trajectories into a new dataset dict (the buffers can be reused right after)."""
        idx = torch.as_tensor(traj_indices, dtype=torch.int64)
        out: dict[str, Any] = {}
        for key, value in self.flat_items():
            if isinstance(value, dict):
                out[key] = {k: v.index_select(0, idx) for k, v in value.items()}
            else:
                out[key] = value.index_select(0, idx)
        if device is not None and device.type != "cpu":
            out = {
                k: (
                    {kk: vv.to(device, non_blocking=True) for kk, vv in v.items()}
                    if isinstance(v, dict)
                    else v.to(device)
                )
                for k, v in out.items()
            }
        return out


class SharedState:
    """Small shared tensors: policy versions and component heartbeats."""

    def __init__(self, num_policies: int, num_components: int, share: bool) -> None:
        self.policy_versions = torch.zeros(num_policies, dtype=torch.int64)
        self.heartbeats = torch.zeros(num_components, dtype=torch.float64)
        if share:
            for t in (self.policy_versions, self.heartbeats):
                t.share_memory_()
