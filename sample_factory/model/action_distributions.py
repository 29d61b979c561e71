"""Action spaces <-> tensors and the action distributions built from raw logits.

Action tensor contract (docs/architecture.md), batch B:
    Discrete(n)          [B]                  int64
    MultiDiscrete(nvec)  [B, len(nvec)]       int64
    Box(shape=(d,))      [B, d]               float32  (1-D boxes only)
    Tuple(parts)         [B, sum(part widths)] float32 (a Discrete part is one column holding its index)
Logits: Discrete n, MultiDiscrete sum(nvec), Box 2d (means then log-stds), Tuple the parts' logits concatenated.
Action masks (0/1): Discrete n, MultiDiscrete sum(nvec), Box 0, Tuple the parts' masks concatenated.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch.nn import functional as F

MASKED_LOGIT = -1e9
MIN_STDDEV = 1e-4
MAX_STDDEV = 1e4
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _check_box(space: gym.spaces.Box) -> None:
    if len(space.shape) != 1:
        raise ValueError(
            f"Box action spaces must be 1-D, got shape {space.shape}: flatten the actions in an env wrapper "
            f"(e.g. gymnasium.wrappers.FlattenObservation's action counterpart) or use a Tuple of 1-D boxes"
        )


def _check_supported(space: gym.Space) -> None:
    if not isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete | gym.spaces.Box | gym.spaces.Tuple):
        raise TypeError(f"Unsupported action space {space}: use Discrete, MultiDiscrete, 1-D Box or a Tuple of those")
    if isinstance(space, gym.spaces.MultiDiscrete) and len(space.nvec.shape) != 1:
        raise ValueError(f"MultiDiscrete action spaces must be 1-D, got nvec of shape {space.nvec.shape}")


def _tuple_parts(space: gym.Space) -> list[gym.Space]:
    assert isinstance(space, gym.spaces.Tuple)
    return list(space.spaces)


def is_continuous_action_space(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box)


def calc_num_actions(space: gym.Space) -> int:
    """Columns of one action in the action buffer (1 for Discrete, d for Box, ...)."""
    _check_supported(space)
    if isinstance(space, gym.spaces.Discrete):
        return 1
    if isinstance(space, gym.spaces.MultiDiscrete):
        return len(space.nvec)
    if isinstance(space, gym.spaces.Box):
        _check_box(space)
        return int(space.shape[0])
    return sum(calc_num_actions(s) for s in _tuple_parts(space))


num_actions = calc_num_actions


def calc_num_action_logits(space: gym.Space) -> int:
    """Number of raw distribution parameters the action head outputs for `space`."""
    _check_supported(space)
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(space.nvec.sum())
    if isinstance(space, gym.spaces.Box):
        _check_box(space)
        return 2 * int(space.shape[0])
    return sum(calc_num_action_logits(s) for s in _tuple_parts(space))


calc_num_action_parameters = calc_num_action_logits  # upstream name


def calc_action_mask_size(space: gym.Space) -> int:
    """Width of the 0/1 action mask for `space` (0 when no part of it can be masked)."""
    _check_supported(space)
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(space.nvec.sum())
    if isinstance(space, gym.spaces.Box):
        return 0
    return sum(calc_action_mask_size(s) for s in _tuple_parts(space))


def action_buffer_spec(space: gym.Space) -> tuple[tuple[int, ...], torch.dtype]:
    """(shape of one step's action, dtype) for the trajectory buffers."""
    _check_supported(space)
    if isinstance(space, gym.spaces.Discrete):
        return (), torch.int64
    if isinstance(space, gym.spaces.MultiDiscrete):
        return (len(space.nvec),), torch.int64
    if isinstance(space, gym.spaces.Box):
        _check_box(space)
        return (int(space.shape[0]),), torch.float32
    return (calc_num_actions(space),), torch.float32


def actions_to_env(space: gym.Space, actions: np.ndarray) -> list:
    """Turn a batch of actions (numpy, as in the buffer) into a list of env actions, row i for slot i."""
    actions = np.asarray(actions)
    batch = actions.shape[0]
    if isinstance(space, gym.spaces.Discrete):
        return [int(a) + int(space.start) for a in actions.reshape(batch, -1)[:, 0]]
    if isinstance(space, gym.spaces.MultiDiscrete):
        rows = actions.reshape(batch, -1).astype(np.int64) + np.asarray(space.start, dtype=np.int64)
        return list(rows.astype(space.dtype))
    if isinstance(space, gym.spaces.Box):
        return list(actions.reshape(batch, -1).astype(space.dtype))
    if isinstance(space, gym.spaces.Tuple):
        flat = actions.reshape(batch, -1)
        parts, col = [], 0
        for sub in space.spaces:
            width = calc_num_actions(sub)
            parts.append(actions_to_env(sub, flat[:, col : col + width]))
            col += width
        return [tuple(p[i] for p in parts) for i in range(batch)]
    _check_supported(space)
    raise AssertionError("unreachable")


def _maskable_logit_columns(space: gym.Space, offset: int = 0) -> list[int]:
    """Indices of the logits that the action mask columns refer to, in mask-column order."""
    if isinstance(space, gym.spaces.Box):
        return []
    if isinstance(space, gym.spaces.Tuple):
        cols: list[int] = []
        for sub in space.spaces:
            cols.extend(_maskable_logit_columns(sub, offset))
            offset += calc_num_action_logits(sub)
        return cols
    return list(range(offset, offset + calc_num_action_logits(space)))


def masked_logits(action_space: gym.Space, raw_logits: torch.Tensor, action_mask: torch.Tensor | None) -> torch.Tensor:
    """`raw_logits` with the masked-out (0) discrete actions set to -1e9; Box parameters are untouched."""
    if action_mask is None:
        return raw_logits
    mask = action_mask.bool()
    if isinstance(action_space, gym.spaces.Discrete | gym.spaces.MultiDiscrete):
        return raw_logits.masked_fill(~mask, MASKED_LOGIT)
    cols = torch.tensor(_maskable_logit_columns(action_space), device=raw_logits.device, dtype=torch.long)
    out = raw_logits.clone()
    out[:, cols] = raw_logits[:, cols].masked_fill(~mask, MASKED_LOGIT)
    return out


class CategoricalActionDistribution:
    """Categorical over `raw_logits` [B, n]; masked actions (mask 0) get logit -1e9 (an all-zero mask = uniform)."""

    action_width = 1

    def __init__(self, raw_logits: torch.Tensor, action_mask: torch.Tensor | None = None):
        self.action_mask = None if action_mask is None else action_mask.bool()
        if self.action_mask is not None:
            raw_logits = raw_logits.masked_fill(~self.action_mask, MASKED_LOGIT)
        self.raw_logits = raw_logits
        self.log_probs = F.log_softmax(raw_logits, dim=-1)

    @property
    def probs(self) -> torch.Tensor:
        return self.log_probs.exp()

    def sample(self) -> torch.Tensor:
        # Gumbel-max: argmax(logits - log(Exp(1))) is an exact categorical sample, without a device sync
        noise = torch.empty_like(self.log_probs).exponential_().log_()
        return (self.log_probs - noise).argmax(dim=-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        if actions.dim() == 1 and actions.dtype == torch.int64:
            actions = actions.unsqueeze(-1)  # the usual [B] int64 actions: two view ops fewer
        else:
            actions = actions.reshape(actions.shape[0], -1)[:, :1].long()
        return self.log_probs.gather(-1, actions).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        return -(self.probs * self.log_probs).sum(dim=-1)

    def kl_divergence(self, other: CategoricalActionDistribution) -> torch.Tensor:
        """KL(self || other) per sample."""
        return (self.probs * (self.log_probs - other.log_probs)).sum(dim=-1)

    def symmetric_kl_with_uniform_prior(self) -> torch.Tensor:
        """0.5 * (KL(pi || U) + KL(U || pi)) per sample; U is uniform over the unmasked actions."""
        if self.action_mask is None:
            valid = torch.ones_like(self.log_probs)
        else:
            valid = self.action_mask.to(self.log_probs.dtype)
            valid = torch.where(valid.sum(-1, keepdim=True) > 0, valid, torch.ones_like(valid))
        num_valid = valid.sum(dim=-1, keepdim=True)
        log_u = -num_valid.log()
        kl_prior = (self.probs * (self.log_probs - log_u) * valid).sum(dim=-1)
        kl_reverse = (valid / num_valid * (log_u - self.log_probs)).sum(dim=-1)
        return 0.5 * (kl_prior + kl_reverse)

    def argmax(self) -> torch.Tensor:
        return self.log_probs.argmax(dim=-1)


class ContinuousActionDistribution:
    """Diagonal Gaussian; `params` [B, 2d] = (means, log-stds); std = clamp(exp(log_std), 1e-4, 1e4). No squashing."""

    def __init__(self, params: torch.Tensor):
        self.means, log_stds = params.chunk(2, dim=-1)
        self.stddevs = log_stds.exp().clamp(MIN_STDDEV, MAX_STDDEV)
        self.log_stds = self.stddevs.log()
        self.action_width = self.means.shape[-1]

    def sample(self) -> torch.Tensor:
        return self.means + self.stddevs * torch.randn_like(self.means)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        actions = actions.reshape(self.means.shape).to(self.means.dtype)
        z = (actions - self.means) / self.stddevs
        return (-0.5 * z.square() - self.log_stds - _LOG_SQRT_2PI).sum(dim=-1)

    def entropy(self) -> torch.Tensor:
        return (0.5 + _LOG_SQRT_2PI + self.log_stds).sum(dim=-1)

    def kl_divergence(self, other: ContinuousActionDistribution) -> torch.Tensor:
        """KL(self || other) per sample."""
        var_ratio = (self.stddevs / other.stddevs).square()
        mean_term = ((self.means - other.means) / other.stddevs).square()
        return (0.5 * (var_ratio + mean_term - 1.0) - (self.log_stds - other.log_stds)).sum(dim=-1)

    def symmetric_kl_with_uniform_prior(self) -> torch.Tensor:
        raise NotImplementedError(
            "exploration_loss=symmetric_kl is not defined for continuous (Box) actions: use --exploration_loss=entropy"
        )

    def argmax(self) -> torch.Tensor:
        return self.means


class TupleActionDistribution:
    """Independent parts (Tuple or MultiDiscrete): log-probs, entropies and KLs are summed over the parts.

    Samples are the parts' columns concatenated: float32 for a Tuple, int64 [B, k] for a MultiDiscrete.
    """

    def __init__(self, parts: list[Any], integer_actions: bool = False):
        self.parts = parts
        self.integer_actions = integer_actions
        self.action_widths = [p.action_width for p in parts]
        self.action_width = sum(self.action_widths)

    def _cat(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        dtype = torch.int64 if self.integer_actions else torch.float32
        return torch.cat([t.reshape(t.shape[0], -1).to(dtype) for t in tensors], dim=1)

    def sample(self) -> torch.Tensor:
        return self._cat([p.sample() for p in self.parts])

    def argmax(self) -> torch.Tensor:
        return self._cat([p.argmax() for p in self.parts])

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        cols = torch.split(actions.reshape(actions.shape[0], -1), self.action_widths, dim=1)
        return torch.stack([p.log_prob(a) for p, a in zip(self.parts, cols)], dim=0).sum(dim=0)

    def entropy(self) -> torch.Tensor:
        return torch.stack([p.entropy() for p in self.parts], dim=0).sum(dim=0)

    def kl_divergence(self, other: TupleActionDistribution) -> torch.Tensor:
        return torch.stack([p.kl_divergence(q) for p, q in zip(self.parts, other.parts)], dim=0).sum(dim=0)

    def symmetric_kl_with_uniform_prior(self) -> torch.Tensor:
        """Sum over the discrete parts (continuous parts have no uniform prior and are skipped)."""
        terms = [
            p.symmetric_kl_with_uniform_prior() for p in self.parts if not isinstance(p, ContinuousActionDistribution)
        ]
        if not terms:
            return self.parts[0].symmetric_kl_with_uniform_prior()  # raises the explanatory error
        return torch.stack(terms, dim=0).sum(dim=0)


ActionDistribution = CategoricalActionDistribution | ContinuousActionDistribution | TupleActionDistribution


def get_action_distribution(
    action_space: gym.Space, raw_logits: torch.Tensor, action_mask: torch.Tensor | None = None
) -> ActionDistribution:
    """The distribution for `action_space` parameterised by `raw_logits` [B, calc_num_action_logits(space)]."""
    _check_supported(action_space)
    if isinstance(action_space, gym.spaces.Discrete):
        return CategoricalActionDistribution(raw_logits, action_mask)
    if isinstance(action_space, gym.spaces.Box):
        _check_box(action_space)
        return ContinuousActionDistribution(raw_logits)
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        subspaces: list[gym.Space] = [gym.spaces.Discrete(int(n)) for n in action_space.nvec]
    else:
        subspaces = _tuple_parts(action_space)
    logits = torch.split(raw_logits, [calc_num_action_logits(s) for s in subspaces], dim=-1)
    mask_sizes = [calc_action_mask_size(s) for s in subspaces]
    masks: list[torch.Tensor | None] = [None] * len(subspaces)
    if action_mask is not None:
        masks = list(torch.split(action_mask, mask_sizes, dim=-1))
    parts = [
        get_action_distribution(s, lg, m if sz > 0 else None)
        for s, lg, m, sz in zip(subspaces, logits, masks, mask_sizes)
    ]
    return TupleActionDistribution(parts, integer_actions=isinstance(action_space, gym.spaces.MultiDiscrete))


def argmax_actions(distribution: ActionDistribution) -> torch.Tensor:
    """Deterministic actions (argmax for discrete parts, means for Gaussian parts) in the buffer format."""
    return distribution.argmax()


def sample_actions_log_probs(distribution: ActionDistribution) -> tuple[torch.Tensor, torch.Tensor]:
    actions = distribution.sample()
    return actions, distribution.log_prob(actions)
