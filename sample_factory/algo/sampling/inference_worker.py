"""Inference worker: batches the action requests of many rollout-worker splits into one forward pass.

Requests carry trajectory indices and the step; observations and core states are read from the shared buffers,
and actions, log-probs, values and next core states are written back. Weights are re-read when the learner
publishes a new policy version.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any

import numpy as np
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
        self._versions_np = policy_versions.numpy()
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
        self._fast = None  # model/fast_inference.py: the stock MLP policy without nn.Module overhead
        if not self.has_mask and os.environ.get("SF_FAST_INFERENCE") != "0":
            from sample_factory.model.fast_inference import make_fast_policy_step

            self._fast = make_fast_policy_step(self.model)
        self._flat_views()
        self._maybe_update_weights()

    def _maybe_update_weights(self) -> None:
        version = int(self._versions_np[self.policy_id])
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

    def _flat_views(self) -> None:
        """numpy views of the shared buffers with (trajectory, step) flattened into one axis: gathering and writing
        rows by a flat index is several times cheaper than torch's two-tensor advanced indexing."""
        b = self.buffers
        n, t1 = b.rnn_states.shape[0], b.rnn_states.shape[1]

        def flat(x: torch.Tensor, steps: int) -> np.ndarray:
            return x.numpy().reshape(n * steps, *x.shape[2:])

        self._T1, self._T = t1, t1 - 1
        self._obs = {k: flat(v, t1) for k, v in b.obs.items() if k != "action_mask"}
        self._mask = flat(b.obs["action_mask"], t1) if self.has_mask else None
        self._rnn = flat(b.rnn_states, t1)
        self._actions = flat(b.actions, self._T)
        self._logits = flat(b.action_logits, self._T)
        self._log_probs = flat(b.log_prob_actions, self._T)
        self._values = flat(b.values, self._T)
        self._version = flat(b.policy_version, self._T)
        self._policy = flat(b.policy_id, self._T)

    @torch.inference_mode()
    def _infer(self, requests: list[tuple]) -> None:
        t0 = time.perf_counter()
        if len(requests) == 1:
            _, _, _, traj_list, t = requests[0]
            traj = np.asarray(traj_list, dtype=np.int64)
            ts: Any = t
        else:
            traj = np.concatenate([np.asarray(r[3], dtype=np.int64) for r in requests])
            ts = np.concatenate([np.full(len(r[3]), r[4], dtype=np.int64) for r in requests])
        at = traj * self._T1 + ts  # rows of the [N * (T + 1)] buffers: obs and core states
        rows = traj * self._T + ts  # rows of the [N * T] buffers: everything the policy outputs
        dev, cpu = self.device, self.device.type == "cpu"
        obs = {k: torch.from_numpy(v[at]) for k, v in self._obs.items()}
        rnn = torch.from_numpy(self._rnn[at])
        mask = torch.from_numpy(self._mask[at]) if self._mask is not None else None
        if not cpu:
            obs = {k: v.to(dev, non_blocking=True) for k, v in obs.items()}
            rnn = rnn.to(dev, non_blocking=True)
            mask = mask.to(dev) if mask is not None else None
        if self.model.training:
            self.model.eval()
        if self._fast is not None:
            out = self._fast(obs, rnn)
        else:
            out = self.model(self.model.normalize_obs(obs), rnn, action_mask=mask)
        if not cpu:
            out = {k: v.to("cpu") for k, v in out.items()}
        t1 = time.perf_counter()
        n = len(rows)
        self._actions[rows] = out["actions"].numpy().reshape(n, *self._actions.shape[1:])
        self._logits[rows] = out["action_logits"].numpy()
        self._log_probs[rows] = out["log_prob_actions"].numpy().reshape(n)
        self._values[rows] = out["values"].numpy().reshape(n)
        self._rnn[at + 1] = out["new_rnn_states"].numpy()
        self._version[rows] = self.version
        self._policy[rows] = self.policy_id
        for _, worker_idx, split_idx, _, _ in requests:
            self.channels.rollout[worker_idx].send(("act", split_idx))
        self.timing["forward"] += t1 - t0
        self.timing["write_outputs"] += time.perf_counter() - t1
        self.num_batches += 1
        self.num_samples += n

    def report_timing(self) -> None:
        stats = dict(self.timing)
        stats["avg_batch"] = self.num_samples / max(self.num_batches, 1)
        self.channels.runner.send(("timing", self.name, stats))
