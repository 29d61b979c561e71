"""PPO/APPO loss terms as pure functions: clipped surrogate, clipped value loss, exploration and KL terms.

Every function takes a `valids` mask (bool or 0/1, same shape as the per-sample tensor) and averages over valid
samples only; weights (coefficients) are applied by the caller unless the function says otherwise.
"""

from __future__ import annotations

import torch
from torch import Tensor

RATIO_MIN, RATIO_MAX = 0.05, 20.0
ADV_STD_MIN = 1e-7
SYMMETRIC_KL_MAX = 30.0


def masked_mean(x: Tensor, valids: Tensor) -> Tensor:
    """Mean of x over valid entries (0 if there are none). NaN/inf on invalid entries do not leak in."""
    mask = valids.to(torch.bool)
    total = torch.where(mask, x, torch.zeros_like(x)).sum()
    return total / mask.sum().clamp(min=1).to(x.dtype)


def compute_ratio(logp: Tensor, old_logp: Tensor) -> Tensor:
    """Importance ratio pi/mu = exp(logp - old_logp), clamped to [0.05, 20] for numerical safety."""
    return torch.exp(logp - old_logp).clamp(RATIO_MIN, RATIO_MAX)


def ppo_policy_loss(ratio: Tensor, adv: Tensor, clip_ratio: float, valids: Tensor) -> Tensor:
    """PPO clipped surrogate: -mean(min(r*A, clip(r, 1/(1+eps), 1+eps)*A)) over valid samples.

    The lower clip bound is 1/(1+eps) (not 1-eps), which makes the clipping symmetric in log space.
    """
    ratio = ratio.clamp(RATIO_MIN, RATIO_MAX)
    ratio_clipped = ratio.clamp(1.0 / (1.0 + clip_ratio), 1.0 + clip_ratio)
    surrogate = torch.min(ratio * adv, ratio_clipped * adv)
    return -masked_mean(surrogate, valids)


def value_loss(new_values: Tensor, old_values: Tensor, targets: Tensor, clip_value: float, valids: Tensor) -> Tensor:
    """Clipped value loss: mean(max((V - R)^2, (V_old + clip(V - V_old, +-c) - R)^2)) over valid samples."""
    clipped = old_values + (new_values - old_values).clamp(-clip_value, clip_value)
    loss = torch.max((new_values - targets).pow(2), (clipped - targets).pow(2))
    return masked_mean(loss, valids)


def entropy_loss(entropy: Tensor, valids: Tensor, coeff: float) -> Tensor:
    """Entropy bonus as a loss: -coeff * mean(H) over valid samples."""
    return -coeff * masked_mean(entropy, valids)


def symmetric_kl_loss(sym_kl: Tensor, valids: Tensor, coeff: float) -> Tensor:
    """coeff * clamp(mean(0.5 * (KL(pi||U) + KL(U||pi))), max=30); a non-finite mean counts as 0.

    `sym_kl` is the per-sample symmetric KL with the uniform prior (already including the 0.5 factor).
    """
    mean_kl = masked_mean(sym_kl, valids)
    mean_kl = torch.where(torch.isfinite(mean_kl), mean_kl, torch.zeros_like(mean_kl))
    return coeff * mean_kl.clamp(max=SYMMETRIC_KL_MAX)


def kl_penalty_loss(kl: Tensor, valids: Tensor, coeff: float) -> Tensor:
    """Fixed KL penalty versus the behaviour policy: coeff * mean(KL(pi || pi_old)) over valid samples."""
    return coeff * masked_mean(kl, valids)


def normalize_advantages(adv: Tensor, valids: Tensor) -> Tensor:
    """(A - mean) / max(std, 1e-7) with mean and (unbiased) std over valid samples; returns a new tensor."""
    mask = valids.to(torch.bool)
    n = int(mask.sum())
    if n == 0:
        return torch.zeros_like(adv)
    valid_adv = adv[mask]
    mean = valid_adv.mean()
    std = valid_adv.std() if n > 1 else torch.zeros_like(mean)
    return (adv - mean) / std.clamp(min=ADV_STD_MIN)
