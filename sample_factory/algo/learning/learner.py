"""The APPO learner of one policy: a trajectory dataset -> targets -> PPO epochs of minibatch SGD -> new weights.

train(dataset): prepare_dataset (device, valids, reward scale/clip, obs normalization, V(s_T), value bootstrap, GAE,
return normalization) -> num_epochs x minibatches -> one_sgd_step (forward with BPTT, V-trace if enabled, losses,
backward, grad clip, step, lr schedule) -> stats. The math lives in advantages.py and losses.py.
Hot path (benchmarks/hot_paths.py): no per-minibatch copies unless shuffled, no masking work on all-valid data, KL only
where it is used, fused Adam on CPU, and the stats converted to floats in one go.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sample_factory.algo.learning.advantages import apply_value_bootstrap, gae, vtrace
from sample_factory.algo.learning.losses import (
    compute_ratio,
    entropy_loss,
    kl_penalty_loss,
    masked_mean,
    normalize_advantages,
    ppo_policy_loss,
    symmetric_kl_loss,
    value_loss,
)
from sample_factory.algo.learning.lr_schedules import LrSchedule
from sample_factory.algo.learning.optimizers import make_optimizer
from sample_factory.algo.learning.rnn_utils import run_core_bptt
from sample_factory.cfg.verify import effective_recurrence
from sample_factory.model.action_distributions import ContinuousActionDistribution, get_action_distribution
from sample_factory.model.actor_critic import create_actor_critic
from sample_factory.utils.typing import Config
from sample_factory.utils.utils import log

Batch = dict[str, Any]  # flat [N = B*T, ...] tensors; "obs" is a dict of them


def minibatch_indices(
    dataset_size: int, batch_size: int, recurrence: int, shuffle: bool, generator: torch.Generator | None = None
) -> list[Tensor]:
    """Index tensors of the minibatches of one epoch over a flat dataset of `dataset_size` samples.

    One minibatch (dataset_size <= batch_size) = the whole dataset. Otherwise contiguous slices of batch_size, or
    with `shuffle` whole recurrence-length chunks in random order (chunks never cross trajectory boundaries).
    """
    if dataset_size <= batch_size:
        return [torch.arange(dataset_size)]
    if dataset_size % batch_size != 0:
        raise ValueError(f"Dataset of {dataset_size} samples is not divisible by --batch_size={batch_size}")
    num_batches = dataset_size // batch_size
    if not shuffle:
        return list(torch.arange(dataset_size).view(num_batches, batch_size))
    if batch_size % recurrence != 0:
        raise ValueError(f"--batch_size={batch_size} must be a multiple of --recurrence={recurrence}")
    chunks = torch.randperm(dataset_size // recurrence, generator=generator).view(num_batches, -1)
    idx = chunks.unsqueeze(-1) * recurrence + torch.arange(recurrence)
    return list(idx.view(num_batches, batch_size))


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    if isinstance(x, Tensor):
        return x.to(device, non_blocking=True)
    return torch.as_tensor(np.asarray(x), device=device)


def _select(batch: Batch, idx: Tensor) -> Batch:
    return {k: (_select(v, idx) if isinstance(v, dict) else v[idx]) for k, v in batch.items()}


def _slice(batch: Batch, start: int, end: int) -> Batch:
    """Rows [start, end) of every tensor, as views (a contiguous minibatch needs no copy)."""
    return {k: (_slice(v, start, end) if isinstance(v, dict) else v[start:end]) for k, v in batch.items()}


_STATS_ONLY_KEYS = ("own_policy", "policy_version")  # used by stats() on the whole dataset, never per minibatch


def _set_train_mode(module: nn.Module, mode: bool) -> None:
    """`module.train(mode)`, skipped when every submodule is already in that mode (the call walks all of them)."""
    if any(m.training != mode for m in module.modules()):
        module.train(mode)


def _flat(x: Tensor) -> Tensor:
    """[B, T, ...] -> [B*T, ...]."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _continuous_parts(dist: Any) -> list[ContinuousActionDistribution]:
    if isinstance(dist, ContinuousActionDistribution):
        return [dist]
    return [p for p in getattr(dist, "parts", []) if isinstance(p, ContinuousActionDistribution)]


class Learner:
    """Owns one policy's model, optimizer, lr schedule and counters; `train(dataset)` does one training iteration.

    `train_step` is the policy version (+1 per minibatch SGD step); `env_steps` is maintained by the caller.
    Tunable hyperparameters (loss coefficients, clip ranges, gamma, max_grad_norm) are read from `cfg` at every
    step, so population-based training can change them between iterations.
    """

    def __init__(
        self,
        cfg: Config,
        env_info: Any,
        policy_id: int = 0,
        device: torch.device | str = torch.device("cpu"),
        actor_critic: nn.Module | None = None,
    ) -> None:
        if cfg.with_vtrace and cfg.normalize_returns:
            raise ValueError("--with_vtrace=True needs --normalize_returns=False (V-trace uses raw value targets)")
        self.cfg, self.env_info, self.policy_id = cfg, env_info, policy_id
        self.device = torch.device(device)
        self.actor_critic: Any = actor_critic
        self.optimizer: Any = None  # optimizers.Adam or Lamb
        self.train_step = 0
        self.env_steps = 0
        self.best_performance = -1e9
        self.curr_lr = float(cfg.learning_rate)
        self.lr_schedule = LrSchedule(cfg)
        self.recurrence = effective_recurrence(cfg)
        self.param_lock: Any = contextlib.nullcontext()  # a lock shared with inference, when weights are shared
        self.shuffle_generator = torch.Generator()

    # ---- setup and checkpoints
    def init(self) -> None:
        """Seed (if --seed), build the model on the device and the optimizer."""
        seed = getattr(self.cfg, "seed", None)
        if seed is not None:
            torch.manual_seed(seed)
            np.random.seed(seed)
            self.shuffle_generator.manual_seed(int(seed) + self.policy_id)
        else:
            self.shuffle_generator.seed()
        if self.actor_critic is None:
            self.actor_critic = create_actor_critic(self.cfg, self.env_info.obs_space, self.env_info.action_space)
        if hasattr(self.actor_critic, "model_to_device"):
            self.actor_critic.model_to_device(self.device)
        self.actor_critic.to(self.device)
        self.actor_critic.train()
        self.optimizer = make_optimizer(self.cfg, self.actor_critic.parameters())
        self._set_optimizer_lr(self.curr_lr)

    def get_checkpoint_dict(self) -> dict[str, Any]:
        """Everything needed for an exact resume (keys of interface.md section 2 plus our extras)."""
        assert self.optimizer is not None, "call init() first"
        return {
            "train_step": int(self.train_step),
            "env_steps": int(self.env_steps),
            "best_performance": float(self.best_performance),
            "model": self.actor_critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "curr_lr": float(self.curr_lr),
            "lr_schedule_state": self.lr_schedule.state_dict(),
            "rng_states": {"minibatch_shuffle": self.shuffle_generator.get_state()},
        }

    def load_checkpoint_dict(self, ckpt: dict[str, Any]) -> None:
        """Restore model (incl. normalizers), optimizer, lr, counters and best score; call after init()."""
        assert self.optimizer is not None, "call init() first"
        self.actor_critic.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.train_step = int(ckpt["train_step"])
        self.env_steps = int(ckpt["env_steps"])
        self.best_performance = float(ckpt.get("best_performance", -1e9))
        self.curr_lr = float(ckpt.get("curr_lr", self.cfg.learning_rate))
        self._set_optimizer_lr(self.curr_lr)
        self.lr_schedule.load_state_dict(ckpt.get("lr_schedule_state", {}))
        rng = ckpt.get("rng_states") or {}
        if "minibatch_shuffle" in rng:
            self.shuffle_generator.set_state(rng["minibatch_shuffle"].cpu())

    def _set_optimizer_lr(self, lr: float) -> None:
        assert self.optimizer is not None
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # ---- training
    def train(self, dataset: dict[str, Any], with_stats: bool = True) -> dict[str, float]:
        """One training iteration on a dataset (docs/architecture.md); returns the train/* stats.

        `with_stats=False` skips the statistics (and the KL divergence when nothing else needs it) and returns {}:
        the learner worker asks for them about once a second, as often as they are reported (they cost ~5% of a
        CartPole training step).
        """
        assert self.optimizer is not None, "call init() first"
        cfg, ac = self.cfg, self.actor_critic
        version_at_start, was_training = self.train_step, ac.training
        _set_train_mode(ac, True)  # normalizers update their statistics only in train mode
        with torch.no_grad():
            batch = self.prepare_dataset(dataset)
        num_samples = batch["rewards"].shape[0]
        kl_schedule = self.lr_schedule.name.startswith("kl_adaptive")
        acc: dict[str, list[Tensor]] = defaultdict(list)
        last: dict[str, Tensor] = {}
        num_sgd_steps = 0
        for epoch in range(cfg.num_epochs):
            epoch_kls: list[float] = []
            minibatches = self._minibatches(batch, num_samples)
            for i, mb in enumerate(minibatches):
                is_last = epoch == cfg.num_epochs - 1 and i == len(minibatches) - 1
                kl = self.one_sgd_step(
                    mb() if callable(mb) else mb,
                    acc if with_stats else None,
                    last if is_last and with_stats else None,
                    kl_schedule,
                )
                num_sgd_steps += 1
                if kl_schedule:
                    epoch_kls.append(float(kl))  # type: ignore[arg-type]
                self.curr_lr = self.lr_schedule.after_minibatch(
                    self.curr_lr, epoch_kls[-1] if epoch_kls else 0.0, self.train_step
                )
            self.curr_lr = self.lr_schedule.after_epoch(self.curr_lr, epoch_kls)
        self._set_optimizer_lr(self.curr_lr)
        _set_train_mode(ac, was_training)
        return self.stats(batch, acc, last, num_sgd_steps, version_at_start) if with_stats else {}

    def _minibatches(self, batch: Batch, num_samples: int) -> list[Any]:
        """This epoch's minibatches (as `minibatch_indices`): the batch itself when it is one minibatch, views for
        contiguous minibatches, and for shuffled ones functions that gather the rows when called (one copy at a time).
        """
        cfg = self.cfg
        indices = minibatch_indices(
            num_samples, cfg.batch_size, self.recurrence, cfg.shuffle_minibatches, self.shuffle_generator
        )
        if len(indices) == 1:
            return [batch]  # the whole dataset in order
        if not cfg.shuffle_minibatches:
            size = num_samples // len(indices)
            return [_slice(batch, k * size, (k + 1) * size) for k in range(len(indices))]
        sgd_batch = {k: v for k, v in batch.items() if k not in _STATS_ONLY_KEYS}
        return [lambda idx=idx: _select(sgd_batch, idx.to(self.device)) for idx in indices]

    def prepare_dataset(self, dataset: dict[str, Any]) -> Batch:
        """Valids, processed rewards, normalized obs and (for GAE) advantages and returns, as flat [B*T] tensors.

        Never modifies `dataset`; the returned tensors may be views of it (read only).
        """
        cfg = self.cfg
        d = _to_device(dataset, self.device)
        T = d["rewards"].shape[1]
        own_policy = d["policy_id"] == self.policy_id
        valids = own_policy & (self.train_step - d["policy_version"] < cfg.max_policy_lag)
        num_valid = int(valids.sum())
        all_valid = num_valid == valids.numel()  # then the masking below would only copy
        invalid_fraction = 1.0 - num_valid / max(valids.numel(), 1)
        if invalid_fraction > 0.5:
            log.warning("Learner %d: %.0f%% of the dataset is invalid", self.policy_id, 100 * invalid_fraction)
        rewards, values = d["rewards"].float(), d["values"].float()
        if not all_valid:
            rewards, values = torch.where(valids, rewards, 0.0), torch.where(valids, values, 0.0)
        rewards = (rewards * cfg.reward_scale).clamp_(-cfg.reward_clip, cfg.reward_clip)
        with self.param_lock:  # the running stats are shared with inference when the model is
            obs = self.actor_critic.normalize_obs({k: _flat(v) for k, v in d["obs"].items()})  # updates the stats
        obs = {k: v.reshape(-1, T + 1, *v.shape[1:]) for k, v in obs.items()}
        bootstrap = self._values_of(
            {k: v[:, T] for k, v in obs.items()}, d["rnn_states"][:, T].float()
        )  # V(s_T), normalized space if normalize_returns
        values_raw = torch.cat([values, bootstrap.unsqueeze(1)], dim=1)  # a new tensor: safe to denormalize in place
        if self.actor_critic.returns_normalizer is not None:
            values_raw = self.actor_critic.returns_normalizer(values_raw, denormalize=True)
        if cfg.value_bootstrap:
            rewards = apply_value_bootstrap(rewards, values_raw[:, :-1], d["time_outs"], d["dones"], cfg.gamma)
        actions, logits, log_probs = d["actions"], d["action_logits"].float(), d["log_prob_actions"].float()
        if not all_valid:
            actions, logits = self._zero_invalid(actions, valids), self._zero_invalid(logits, valids)
            log_probs = torch.where(valids, log_probs, -1.0)
        batch: Batch = {
            "obs": {k: _flat(v[:, :T]) for k, v in obs.items()},
            "rnn_states": _flat(d["rnn_states"][:, :T].float()),
            "actions": _flat(actions),
            "action_logits": _flat(logits),
            "log_prob_actions": _flat(log_probs),
            "values": _flat(values),
            "rewards": _flat(rewards),
            "dones": _flat(d["dones"].bool()),
            "valids": _flat(valids),
            "own_policy": _flat(own_policy),
            "policy_version": _flat(d["policy_version"]),
        }
        if cfg.with_vtrace:
            batch["bootstrap_values"] = bootstrap.repeat_interleave(T)
        else:
            batch["advantages"], batch["returns"] = self.compute_targets(rewards, d["dones"], values_raw, valids)
        return batch

    @staticmethod
    def _zero_invalid(x: Tensor, valids: Tensor) -> Tensor:
        """Invalid steps may hold garbage (NaN, out-of-range actions): replace by zeros (action 0, uniform logits)."""
        mask = valids.view(*valids.shape, *([1] * (x.dim() - valids.dim())))
        return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))

    def _values_of(self, normalized_obs: dict[str, Tensor], rnn_states: Tensor) -> Tensor:
        model_obs = {k: v for k, v in normalized_obs.items() if k != "action_mask"}
        return self.actor_critic.forward(model_obs, rnn_states, values_only=True)["values"].reshape(-1).float()

    def compute_targets(self, rewards: Tensor, dones: Tensor, values: Tensor, valids: Tensor) -> tuple[Tensor, Tensor]:
        """GAE advantages and returns [B*T]; returns are normalized (and the normalizer updated) if enabled."""
        valids_t1 = torch.cat([valids, valids[:, -1:]], dim=1)  # the bootstrap slot shares the last step's validity
        adv, ret = gae(rewards, dones, values, valids_t1, self.cfg.gamma, self.cfg.gae_lambda)
        adv, ret, valids = _flat(adv), _flat(ret), _flat(valids)
        normalizer = self.actor_critic.returns_normalizer
        if normalizer is not None:
            if bool(valids.all()):
                normalizer(ret)  # in place (ret is a new tensor), updates the running stats (train mode)
            elif bool(valids.any()):
                valid_ret = ret[valids]
                normalizer(valid_ret)
                ret[valids] = valid_ret
        return adv, ret

    def _forward_minibatch(self, mb: Batch) -> tuple[Any, Tensor]:
        """(action distribution, values [n]) of the current model on a minibatch, with BPTT for recurrent models."""
        ac = self.actor_critic
        action_mask = mb["obs"].get("action_mask")
        head = ac.forward_head({k: v for k, v in mb["obs"].items() if k != "action_mask"})
        if self.cfg.use_rnn and self.recurrence > 1:
            chunk_states = mb["rnn_states"][:: self.recurrence]  # minibatches are made of whole chunks
            core_out = run_core_bptt(ac.forward_core, head, chunk_states, mb["dones"], self.recurrence)
        else:
            core_out, _ = ac.forward_core(head, mb["rnn_states"])
        mask_kwargs = {} if action_mask is None else {"action_mask": action_mask}
        result = ac.forward_tail(core_out, values_only=False, sample_actions=False, **mask_kwargs)
        return ac.action_distribution(), result["values"].reshape(-1)

    def _targets(self, mb: Batch, ratio: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """(advantages, value targets): precomputed GAE, or V-trace on whole trajectories of the minibatch."""
        if not self.cfg.with_vtrace:
            return mb["advantages"], mb["returns"]
        T = self.recurrence  # == rollout, asserted by the config checks
        view = lambda x: x.reshape(-1, T)  # noqa: E731
        values_t1 = torch.cat([view(values.detach()), view(mb["bootstrap_values"])[:, :1]], dim=1)
        vs, adv = vtrace(
            view(ratio.detach()), view(mb["rewards"]), view(mb["dones"]), values_t1, view(mb["valids"]),
            self.cfg.gamma, self.cfg.vtrace_rho, self.cfg.vtrace_c,
        )  # fmt: skip
        return adv.reshape(-1), vs.reshape(-1)

    def one_sgd_step(
        self, mb: Batch, acc: dict[str, list[Tensor]] | None, last: dict[str, Tensor] | None, need_kl: bool = True
    ) -> Tensor | None:
        """Forward, losses, backward, clip, optimizer step; appends loss stats to `acc` (unless None).

        Returns the mean KL(pi || pi_old) over valid samples; it is computed only when `need_kl`, the KL penalty is
        on, or `last` asks for the last minibatch's stats (else None).
        """
        cfg, valids = self.cfg, mb["valids"]
        dist, values = self._forward_minibatch(mb)
        logp = dist.log_prob(mb["actions"])
        ratio = compute_ratio(logp, mb["log_prob_actions"])
        adv, targets = self._targets(mb, ratio, values)
        adv_norm = normalize_advantages(adv, valids)
        kl_penalty = cfg.kl_loss_coeff > 0
        kl: Tensor | None = None
        if kl_penalty or need_kl or last is not None:
            with torch.set_grad_enabled(kl_penalty and torch.is_grad_enabled()):
                kl = dist.kl_divergence(get_action_distribution(self.env_info.action_space, mb["action_logits"]))
        entropy_in_loss = cfg.exploration_loss == "entropy" and cfg.exploration_loss_coeff != 0.0
        with torch.set_grad_enabled(entropy_in_loss and torch.is_grad_enabled()):
            entropy = dist.entropy()
        losses = {
            "policy_loss": ppo_policy_loss(ratio, adv_norm, cfg.ppo_clip_ratio, valids),
            "exploration_loss": self._exploration_loss(dist, entropy, valids),
            "kl_loss": kl_penalty_loss(kl, valids, cfg.kl_loss_coeff)
            if kl is not None and kl_penalty
            else values.new_zeros(()),
            "value_loss": value_loss(values, mb["values"], targets, cfg.ppo_clip_value, valids) * cfg.value_loss_coeff,
        }
        # the sum in the same order as sum(losses.values()); the constant zero terms add nothing and are skipped
        terms = [losses["policy_loss"]]
        if cfg.exploration_loss_coeff != 0.0:
            terms.append(losses["exploration_loss"])
        if kl_penalty:
            terms.append(losses["kl_loss"])
        terms.append(losses["value_loss"])
        loss = terms[0]
        for term in terms[1:]:
            loss = loss + term
        grad_norm, actual_lr = self._optimize(loss, valids)
        with torch.no_grad():
            mean_kl = None if kl is None else masked_mean(kl.detach(), valids)
            if acc is None:
                return mean_kl
            step_stats = {
                **losses,
                "loss": loss,
                "entropy": masked_mean(entropy, valids),
                "value": masked_mean(values.detach(), valids),
            }
            for name, value in step_stats.items():
                acc[name].append(value.detach().float())
            acc["grad_norm"].append(torch.as_tensor(grad_norm).detach().float())
            acc["actual_lr"].append(torch.tensor(actual_lr, device=loss.device))
            if last is not None and kl is not None:
                last.update(self._last_minibatch_stats(mb, dist, ratio, values, kl, logp, adv))
        return mean_kl

    def _exploration_loss(self, dist: Any, entropy: Tensor, valids: Tensor) -> Tensor:
        coeff = self.cfg.exploration_loss_coeff
        if coeff == 0.0:
            return entropy.new_zeros(())
        if self.cfg.exploration_loss == "entropy":
            return entropy_loss(entropy, valids, coeff)
        if self.cfg.exploration_loss == "symmetric_kl":
            return symmetric_kl_loss(dist.symmetric_kl_with_uniform_prior(), valids, coeff)
        raise ValueError(f"Unknown --exploration_loss={self.cfg.exploration_loss!r}: use entropy or symmetric_kl")

    def _optimize(self, loss: Tensor, valids: Tensor) -> tuple[Tensor, float]:
        """Grads to None, backward, clip, lr scaled by the valid fraction, step under the lock, train_step += 1."""
        assert self.optimizer is not None
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.max_grad_norm > 0:
            grad_norm = nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        else:
            grads = [p.grad for p in params if p.grad is not None]
            grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])) if grads \
                else loss.new_zeros(())  # fmt: skip
        valid_fraction = float(valids.float().mean())
        actual_lr = self.curr_lr * valid_fraction if valid_fraction < 1.0 else self.curr_lr
        self._set_optimizer_lr(actual_lr)
        with self.param_lock:
            self.optimizer.step()
        self.train_step += 1
        return grad_norm, actual_lr

    def _last_minibatch_stats(
        self, mb: Batch, dist: Any, ratio: Tensor, values: Tensor, kl: Tensor, logp: Tensor, adv: Tensor
    ) -> dict[str, Tensor]:
        valids = mb["valids"]
        if bool(valids.all()):
            select = lambda x: x.contiguous()  # noqa: E731  (as x[valids] is, without copying a contiguous x)
        elif bool(valids.any()):
            select = lambda x: x[valids]  # noqa: E731
        else:
            return {}
        eps = self.cfg.ppo_clip_ratio
        r, v_delta = select(ratio.detach()), select((values.detach() - mb["values"]).abs())
        kl_valid = select(kl.detach())
        stats = {
            "kl_divergence": kl_valid.mean(),
            "kl_divergence_max": kl_valid.max(),
            "value_delta": v_delta.mean(),
            "value_delta_max": v_delta.max(),
            "fraction_clipped": ((r < 1.0 / (1.0 + eps)) | (r > 1.0 + eps)).float().mean(),
            "ratio_mean": (1.0 - r).abs().mean(),
            "ratio_min": r.min(),
            "ratio_max": r.max(),
            "max_abs_logprob": select(logp.detach()).abs().max(),
        }
        if self.cfg.with_vtrace:
            adv_valid = select(adv)
            stats.update(adv_min=adv_valid.min(), adv_max=adv_valid.max(), adv_std=adv_valid.std())
        for part in _continuous_parts(dist)[:1]:
            means, stds = select(part.means.detach()), select(part.stddevs.detach())
            stats.update(action_mean=means.mean(), action_mean_min=means.min(), action_mean_max=means.max(),
                         action_log_std=stds.log().mean(), action_stddev=stds.mean(), action_stddev_min=stds.min(),
                         action_stddev_max=stds.max())  # fmt: skip
        return stats

    @torch.no_grad()
    def stats(
        self, batch: Batch, acc: dict[str, list[Tensor]], last: dict[str, Tensor], num_sgd_steps: int,
        version_at_start: int,
    ) -> dict[str, float]:  # fmt: skip
        """train/* metrics: losses averaged over this iteration's minibatches, KL/ratio stats of the last one."""
        out: dict[str, Any] = {k: (v[0] if len(v) == 1 else torch.stack(v).mean()) for k, v in acc.items()}
        out.update(last)
        loss_abs_max = torch.stack(acc["loss"]).abs().max()
        valids, own = batch["valids"], batch["own_policy"]
        num, num_valid, num_own = valids.numel(), int(valids.sum()), int(own.sum())
        out.update(lr=self.curr_lr, num_sgd_steps=float(num_sgd_steps), valids_fraction=float(valids.float().mean()),
                   same_policy_fraction=float(own.float().mean()), env_steps=float(self.env_steps))  # fmt: skip
        if num_own > 0:
            versions = batch["policy_version"] if num_own == num else batch["policy_version"][own]
            version_diff = (version_at_start - versions).float()
            out.update(version_diff_min=version_diff.min(), version_diff_avg=version_diff.mean(),
                       version_diff_max=version_diff.max())  # fmt: skip
        if "advantages" in batch and num_valid > 0:
            adv = batch["advantages"] if num_valid == num else batch["advantages"][valids]
            out.update(adv_min=adv.min(), adv_max=adv.max(), adv_std=adv.std() if len(adv) > 1 else 0.0)
        if num_valid > 0:
            actions = (batch["actions"] if num_valid == num else batch["actions"][valids]).float()
            out.update(act_min=actions.min(), act_max=actions.max())
        out.update(self.actor_critic.summaries() if hasattr(self.actor_critic, "summaries") else {})
        moments = self._second_moment_maxima()
        out["adam_max_second_moment"] = torch.stack(moments).max() if moments else 0.0
        # every tensor to a Python float with a single conversion
        tensor_keys = [k for k, v in out.items() if isinstance(v, Tensor)]
        floats = torch.stack([out[k].reshape(()).double() for k in tensor_keys] + [loss_abs_max.double()]).tolist()
        out.update(zip(tensor_keys, floats))
        if floats[-1] > 30.0:
            log.warning("Learner %d: loss magnitude %.3f > 30 (train_step %d)", self.policy_id, floats[-1],
                        self.train_step)  # fmt: skip
        return out

    def _second_moment_maxima(self) -> list[Tensor]:
        assert self.optimizer is not None
        return [s["exp_avg_sq"].max() for s in self.optimizer.state.values() if "exp_avg_sq" in s]
