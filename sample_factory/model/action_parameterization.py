"""Action heads: map the decoder output to raw distribution parameters (logits) and the action distribution."""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from torch import nn

from sample_factory.model.action_distributions import (
    ActionDistribution,
    calc_num_action_logits,
    get_action_distribution,
    is_continuous_action_space,
)
from sample_factory.utils.typing import Config


class ActionsParameterization(nn.Module):
    """Base of action heads: `forward(x, action_mask=None) -> (raw_logits, distribution)`."""

    def __init__(self, cfg: Config, action_space: gym.Space):
        super().__init__()
        self.cfg = cfg
        self.action_space = action_space


class ActionParameterizationDefault(ActionsParameterization):
    """One Linear (`distribution_linear`) outputs every distribution parameter (state-dependent std for Box)."""

    def __init__(self, cfg: Config, core_out_size: int, action_space: gym.Space):
        super().__init__(cfg, action_space)
        self.distribution_linear = nn.Linear(core_out_size, calc_num_action_logits(action_space))

    def forward(
        self, actor_core_output: torch.Tensor, action_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ActionDistribution]:
        raw_logits = self.distribution_linear(actor_core_output)
        return raw_logits, get_action_distribution(self.action_space, raw_logits, action_mask)


class ActionParameterizationContinuousNonAdaptiveStddev(ActionsParameterization):
    """Box actions: Linear means (`distribution_linear`) + one learned log-std vector (`learned_stddev`).

    The log-std starts at log(cfg.initial_stddev). With `continuous_tanh_scale` s > 0, means = tanh(mu / s) * s.
    """

    def __init__(self, cfg: Config, core_out_size: int, action_space: gym.Space):
        super().__init__(cfg, action_space)
        if not is_continuous_action_space(action_space):
            raise TypeError(f"Non-adaptive stddev needs a Box action space, got {action_space}")
        num_means = calc_num_action_logits(action_space) // 2
        self.tanh_scale = float(cfg.continuous_tanh_scale)
        self.distribution_linear = nn.Linear(core_out_size, num_means)
        self.learned_stddev = nn.Parameter(torch.full((num_means,), math.log(cfg.initial_stddev)), requires_grad=True)

    def forward(
        self, actor_core_output: torch.Tensor, action_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ActionDistribution]:
        means = self.distribution_linear(actor_core_output)
        if self.tanh_scale > 0:
            means = torch.tanh(means / self.tanh_scale) * self.tanh_scale
        log_stds = self.learned_stddev.unsqueeze(0).expand_as(means)
        raw_logits = torch.cat([means, log_stds], dim=1)
        return raw_logits, get_action_distribution(self.action_space, raw_logits, action_mask)


def make_action_parameterization(cfg: Config, core_out_size: int, action_space: gym.Space) -> ActionsParameterization:
    """The non-adaptive head for Box actions with `adaptive_stddev=False`, else the default head."""
    if not cfg.adaptive_stddev and is_continuous_action_space(action_space):
        return ActionParameterizationContinuousNonAdaptiveStddev(cfg, core_out_size, action_space)
    return ActionParameterizationDefault(cfg, core_out_size, action_space)
