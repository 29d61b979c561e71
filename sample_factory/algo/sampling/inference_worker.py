"""Inference worker: batches the action requests of many rollout-worker splits into one forward pass.

Requests carry trajectory indices and the step; observations and core states are read from the shared buffers,
and actions, log-probs, values and next core states are written back. Weights are re-read when the learner
publishes a new policy version.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import torch

from sample_factory.algo.utils.buffers import TrajectoryBuffers
from sample_factory.utils.typing import Config


class InferenceWorker:
    def __init__(
        self,
        cfg: Config,
        policy_id: int,
        worker_idx: int,
        buffers: TrajectoryBuffers,
        shared_model: Any,
        channels: Any,
        policy_versions: torch.Tensor,
        heartbeats: torch.Tensor,
        component_id: int,
        device: torch.device,
    ) -> None:
        self.cfg, self.policy_id, self.buffers, self.channels = cfg, policy_id, buffers, channels
        self.inbox = channels.inference[policy_id][worker_idx]
        self.shared_model = shared_model
        self.policy_versions = policy_versions
        self.heartbeats = heartbeats.numpy()
        self.component_id = component_id
        self.device = device
        self.name = f"InferenceWorker_p{policy_id}-w{worker_idx}"
        self.model = shared_model
        self.version = -1
        self.timing: dict[str, float] = defaultdict(float)
        self.num_batches = 0
        self.num_samples = 0
        self.has_mask = "action_mask" in buffers.obs

    def init(self) -> None:
        if self.device.type != "cpu" or next(self.shared_model.parameters()).device != self.device:
            import copy

            self.model = copy.deepcopy(self.shared_model).to(self.device)
        self.model.eval()
        self._maybe_update_weights()

    def _maybe_update_weights(self) -> None:
        version = int(self.policy_versions[self.policy_id])
        if version == self.version:
            return
        if self.model is not self.shared_model:
            with torch.no_grad():
                for dst, src in zip(self.model.state_dict().values(), self.shared_model.state_dict().values()):
                    dst.copy_(src, non_blocking=True)
        self.version = version

    def step(self, timeout: float) -> bool:
        self.heartbeats[self.component_id] = time.time()
        msgs = self.inbox.recv_all(timeout)
        requests = []
        for msg in msgs:
            if msg[0] == "req":
                requests.append(msg)
            elif msg[0] == "stop":
                return False
        if requests:
            self._maybe_update_weights()
            self._infer(requests)
        return True

    @torch.inference_mode()
    def _infer(self, requests: list[tuple]) -> None:
        t0 = time.perf_counter()
        traj_list: list[int] = []
        t_list: list[int] = []
        for _, _, _, traj, t in requests:
            traj_list.extend(traj)
            t_list.extend([t] * len(traj))
        traj = torch.as_tensor(traj_list, dtype=torch.int64)
        ts = torch.as_tensor(t_list, dtype=torch.int64)
        b = self.buffers
        obs = {k: v[traj, ts].to(self.device, non_blocking=True) for k, v in b.obs.items() if k != "action_mask"}
        mask = b.obs["action_mask"][traj, ts].to(self.device) if self.has_mask else None
        rnn = b.rnn_states[traj, ts].to(self.device, non_blocking=True)
        if self.model.training:
            self.model.eval()
        normalized = self.model.normalize_obs(obs)
        out = self.model(normalized, rnn, action_mask=mask)
        t1 = time.perf_counter()
        b.actions[traj, ts] = out["actions"].to("cpu").to(b.actions.dtype).reshape(len(traj_list), *b.actions.shape[2:])
        b.action_logits[traj, ts] = out["action_logits"].to("cpu")
        b.log_prob_actions[traj, ts] = out["log_prob_actions"].to("cpu").reshape(-1)
        b.values[traj, ts] = out["values"].to("cpu").reshape(-1)
        b.rnn_states[traj, ts + 1] = out["new_rnn_states"].to("cpu")
        b.policy_version[traj, ts] = self.version
        b.policy_id[traj, ts] = self.policy_id
        for _, worker_idx, split_idx, _, _ in requests:
            self.channels.rollout[worker_idx].send(("act", split_idx))
        self.timing["forward"] += t1 - t0
        self.timing["write_outputs"] += time.perf_counter() - t1
        self.num_batches += 1
        self.num_samples += len(traj_list)

    def report_timing(self) -> None:
        stats = dict(self.timing)
        stats["avg_batch"] = self.num_samples / max(self.num_batches, 1)
        self.channels.runner.send(("timing", self.name, stats))
