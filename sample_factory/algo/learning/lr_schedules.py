"""Learning-rate schedules: constant, kl_adaptive_minibatch, kl_adaptive_epoch, linear_decay.

`kl_adaptive_lr` and `linear_decay_lr` are pure; `LrSchedule` only decides when they apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LR_SCHEDULES = ("constant", "kl_adaptive_minibatch", "kl_adaptive_epoch", "linear_decay")
KL_ADAPTIVE_FACTOR = 1.5


def kl_adaptive_lr(lr: float, kl: float, kl_threshold: float, lr_min: float, lr_max: float) -> float:
    """KL > 2*thr -> lr/1.5 (not below lr_min); KL < 0.5*thr -> lr*1.5 (not above lr_max); else unchanged."""
    if kl > 2.0 * kl_threshold:
        return max(lr / KL_ADAPTIVE_FACTOR, lr_min)
    if kl < 0.5 * kl_threshold:
        return min(lr * KL_ADAPTIVE_FACTOR, lr_max)
    return lr


def linear_decay_steps(train_for_env_steps: int, batch_size: int, num_epochs: int) -> int:
    """Number of minibatch SGD steps over the whole run: train_for_env_steps // batch_size * num_epochs."""
    return int(train_for_env_steps) // int(batch_size) * int(num_epochs)


def linear_decay_lr(initial_lr: float, train_step: int, total_steps: int) -> float:
    """initial_lr * (1 - train_step / total_steps), reaching 0 at total_steps and staying there."""
    if total_steps <= 0:
        return 0.0
    return initial_lr * max(0.0, 1.0 - train_step / total_steps)


class LrSchedule:
    """Applies `cfg.lr_schedule` after each minibatch or each epoch; holds no state besides the config values."""

    def __init__(self, cfg: Any) -> None:
        self.name: str = cfg.lr_schedule
        if self.name not in LR_SCHEDULES:
            raise ValueError(f"Unknown lr_schedule {self.name!r}; choose one of {', '.join(LR_SCHEDULES)}")
        self.initial_lr = float(cfg.learning_rate)
        self.kl_threshold = float(cfg.lr_schedule_kl_threshold)
        self.lr_min = float(cfg.lr_adaptive_min)
        self.lr_max = float(cfg.lr_adaptive_max)
        self.total_steps = linear_decay_steps(cfg.train_for_env_steps, cfg.batch_size, cfg.num_epochs)

    def after_minibatch(self, lr: float, kl: float, train_step: int) -> float:
        """New lr after a minibatch step (train_step already incremented); kl = that minibatch's mean KL."""
        if self.name == "kl_adaptive_minibatch":
            return kl_adaptive_lr(lr, kl, self.kl_threshold, self.lr_min, self.lr_max)
        if self.name == "linear_decay":
            return linear_decay_lr(self.initial_lr, train_step, self.total_steps)
        return lr

    def after_epoch(self, lr: float, epoch_kls: Sequence[float]) -> float:
        """New lr after an epoch; epoch_kls = the KLs of that epoch's minibatches (their mean is used)."""
        if self.name == "kl_adaptive_epoch" and len(epoch_kls) > 0:
            return kl_adaptive_lr(lr, sum(epoch_kls) / len(epoch_kls), self.kl_threshold, self.lr_min, self.lr_max)
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "initial_lr": self.initial_lr, "total_steps": self.total_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore: the schedule is a function of the config, `curr_lr` and `train_step` (all saved)."""
        del state
