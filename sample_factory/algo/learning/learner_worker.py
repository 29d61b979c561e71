"""Learner worker: collects trajectories of one policy into datasets, trains on them, publishes the new version.

It owns checkpoint writing for its policy (periodic, best, milestone, final) because it owns the model and the
optimizer. In async mode trajectory buffers are released as soon as a dataset is copied; in sync mode after training.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import torch

from sample_factory.algo.utils.buffers import TrajectoryBuffers
from sample_factory.utils.typing import Config
from sample_factory.utils.utils import log

STATS_INTERVAL_S = 1.0  # the runner writes train/* summaries every 2 s at the start, then less often


class LearnerWorker:
    def __init__(
        self,
        cfg: Config,
        env_info: Any,
        policy_id: int,
        buffers: TrajectoryBuffers,
        shared_model: Any,
        channels: Any,
        policy_versions: torch.Tensor,
        heartbeats: torch.Tensor,
        component_id: int,
        device: torch.device,
    ) -> None:
        self.cfg, self.env_info, self.policy_id = cfg, env_info, policy_id
        self.buffers, self.shared_model, self.channels = buffers, shared_model, channels
        self.inbox = channels.learner[policy_id]
        self.policy_versions = policy_versions
        self.heartbeats = heartbeats.numpy()
        self.component_id = component_id
        self.device = device
        self.name = f"Learner_p{policy_id}"
        self.pending: list[tuple[int, int]] = []  # (worker_idx, traj_idx)
        self.traj_per_dataset = cfg.batch_size * cfg.num_batches_per_epoch // cfg.rollout
        self.timing: dict[str, float] = defaultdict(float)
        self.learner: Any = None
        self.frameskip = env_info.frameskip if cfg.summaries_use_frameskip else 1
        self.last_stats_time = -1e9  # train/* stats about once a second (Learner.train with_stats)

    def init(self) -> None:
        from sample_factory.algo.learning.checkpoint import latest_checkpoint_path, load_checkpoint
        from sample_factory.algo.learning.learner import Learner

        model = self.shared_model
        if self.device.type != "cpu":
            import copy

            model = copy.deepcopy(self.shared_model)  # the shared CPU copy stays where inference workers read it
        self.learner = Learner(self.cfg, self.env_info, self.policy_id, self.device, actor_critic=model)
        self.learner.init()
        if self.cfg.restart_behavior == "resume":
            path = latest_checkpoint_path(self.cfg, self.policy_id, self.cfg.load_checkpoint_kind)
            if path is not None:
                self.learner.load_checkpoint_dict(load_checkpoint(path, self.device))
                log.info(
                    "%s: resumed from %s (train_step %d, env_steps %d)",
                    self.name,
                    path,
                    self.learner.train_step,
                    self.learner.env_steps,
                )
        self._publish()
        self.channels.runner.send(
            (
                "learner_ready",
                self.policy_id,
                self.learner.env_steps,
                self.learner.train_step,
                self.learner.best_performance,
            )
        )

    def _publish(self) -> None:
        model = self.learner.actor_critic
        if model is not self.shared_model:
            with torch.no_grad():
                for dst, src in zip(self.shared_model.state_dict().values(), model.state_dict().values()):
                    dst.copy_(src)
        self.policy_versions[self.policy_id] = self.learner.train_step

    def _release(self, items: list[tuple[int, int]]) -> None:
        by_worker: dict[int, list[int]] = defaultdict(list)
        for w, idx in items:
            by_worker[w].append(idx)
        for w, idxs in by_worker.items():
            self.channels.rollout[w].send(("free", idxs))

    def _train_if_ready(self) -> None:
        # one dataset per call: the inbox (stop, save) is read between datasets even with a backlog
        if len(self.pending) >= self.traj_per_dataset:
            items = self.pending[: self.traj_per_dataset]
            del self.pending[: self.traj_per_dataset]
            t0 = time.perf_counter()
            dataset = self.buffers.gather([i for _, i in items], self.device)
            if self.cfg.async_rl:
                self._release(items)
            t1 = time.perf_counter()
            steps = int((dataset["policy_id"] == self.policy_id).sum()) * self.frameskip
            self.learner.env_steps += steps
            now = time.monotonic()
            with_stats = now - self.last_stats_time >= STATS_INTERVAL_S
            if with_stats:
                self.last_stats_time = now
            stats = self.learner.train(dataset, with_stats=with_stats)
            self._publish()
            t2 = time.perf_counter()
            if not self.cfg.async_rl:
                self._release(items)
            self.timing["gather"] += t1 - t0
            self.timing["train"] += t2 - t1
            self.channels.runner.send(
                ("train", self.policy_id, stats, self.learner.env_steps, self.learner.train_step, steps)
            )

    def save(self, kind: str, metric: str | None = None, value: float | None = None) -> None:
        from sample_factory.algo.learning import checkpoint as ckpt

        if self.learner is None:
            return
        d = self.learner.get_checkpoint_dict()
        L = self.learner
        if kind == "best" and value is not None:
            L.best_performance = float(value)
            d["best_performance"] = float(value)
            ckpt.save_best_checkpoint(self.cfg, self.policy_id, d, metric or self.cfg.save_best_metric, float(value))
        elif kind == "milestone":
            ckpt.save_milestone(self.cfg, self.policy_id, d)
        else:
            ckpt.save_checkpoint(self.cfg, self.policy_id, d, L.train_step, L.env_steps)

    def step(self, timeout: float) -> bool:
        self.heartbeats[self.component_id] = time.time()
        for msg in self.inbox.recv_all(timeout):
            kind = msg[0]
            if kind == "traj":
                w = msg[1]
                self.pending.extend((w, i) for i in msg[2])
            elif kind == "save":
                self.save(*msg[1:])
            elif kind == "stop":
                self.save("checkpoint")
                self.channels.runner.send(("stopped", self.name))
                return False
        self._train_if_ready()
        return True

    def report_timing(self) -> None:
        self.channels.runner.send(("timing", self.name, dict(self.timing)))
