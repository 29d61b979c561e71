"""`SyncSamplingAPI`: collect trajectories with the framework's samplers, without a learner.

    api = SyncSamplingAPI(cfg, env_info)
    api.start()
    trajectories = api.get_trajectories_sync()   # a dataset dict (docs/architecture.md), [B, T(+1), ...] tensors
    api.stop()

It runs the same rollout and inference components as training, in this process (like `--serial_mode=True`).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from sample_factory.algo.runners.launcher import build_component, component_specs
from sample_factory.algo.runners.wiring import Channels, make_plane
from sample_factory.algo.utils.channels import LocalChannel
from sample_factory.algo.utils.env_info import EnvInfo
from sample_factory.utils.typing import Config


class SyncSamplingAPI:
    def __init__(self, cfg: Config, env_info: EnvInfo, param_servers: dict[int, Any] | None = None) -> None:
        """`param_servers`: optional {policy_id: model or object with `.actor_critic`} to act with; otherwise
        freshly initialised models are used."""
        cfg = copy.copy(cfg)
        cfg.serial_mode = True  # every component runs in this process
        self.cfg, self.env_info = cfg, env_info
        self.param_servers = param_servers or {}
        self.components: list[Any] = []
        self.channels: Channels | None = None
        self.plane: Any = None

    def _model(self, policy_id: int) -> Any:
        given = self.param_servers.get(policy_id)
        if given is not None:
            return getattr(given, "actor_critic", given)
        from sample_factory.model.actor_critic import create_actor_critic

        return create_actor_critic(self.cfg, self.env_info.obs_space, self.env_info.action_space)

    def start(self) -> None:
        cfg = self.cfg
        self.channels = Channels(
            runner=LocalChannel(),
            rollout=[LocalChannel() for _ in range(cfg.num_workers)],
            inference=[[LocalChannel() for _ in range(cfg.policy_workers_per_policy)] for _ in range(cfg.num_policies)],
            learner=[LocalChannel() for _ in range(cfg.num_policies)],
        )
        self.plane = make_plane(cfg, self.env_info, share=False)
        models = [self._model(p) for p in range(cfg.num_policies)]
        device = torch.device("cpu")
        specs = [s for s in component_specs(cfg) if s[0] != "learner"]
        self.components = [
            build_component(spec, i, cfg, self.env_info, self.plane, self.channels, models, device)
            for i, spec in enumerate(specs)
        ]
        for c in self.components:
            c.init()

    def get_trajectories_sync(self, max_steps: int = 1_000_000) -> dict[str, Any]:
        """Step the samplers until trajectories are complete; return them (all policies) as one dataset dict."""
        assert self.channels is not None, "call start() first"
        for _ in range(max_steps):
            for c in self.components:
                c.step(0.0)
            items: list[tuple[int, int]] = []
            for ch in self.channels.learner:
                for msg in ch.recv_all():
                    items.extend((msg[1], i) for i in msg[2])
            if items:
                dataset = self.plane.buffers.gather([i for _, i in items])
                for w in {w for w, _ in items}:
                    self.channels.rollout[w].send(("free", [i for ww, i in items if ww == w]))
                self.channels.runner.recv_all()  # episode reports are not needed here
                return dataset
        raise RuntimeError(f"no trajectory was completed in {max_steps} sampler steps")

    def stop(self) -> None:
        for c in self.components:
            if hasattr(c, "close"):
                c.close()
        self.components = []
