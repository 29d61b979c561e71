"""Advantage and return targets as pure functions on batch-major tensors [B, T]: GAE, V-trace, value bootstrap.

All functions are side-effect free (inputs are never modified) and work on any device and float dtype.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def apply_value_bootstrap(rewards: Tensor, values: Tensor, time_outs: Tensor, dones: Tensor, gamma: float) -> Tensor:
    """Rewards with `gamma * V(s_t)` added on steps that ended by a time-out (truncation).

    After a truncation obs[t+1] is already the reset observation, so V(s_t) stands in for the value of the state the
    episode was cut at (value_bootstrap in interface.md 4.3). Returns a new tensor; shapes [B, T].
    """
    mask = time_outs.to(rewards.dtype) * dones.to(rewards.dtype)
    return rewards + gamma * values * mask


def discounted_sum_masked(x: Tensor, dones: Tensor, valids: Tensor, discount: float) -> Tensor:
    """out_t = x_t + d_t * (1 - done_t) * out_{t+1} over the time axis of [B, T] tensors.

    d_t = discount on valid steps and 1 on invalid ones (invalid steps pass the sum through undiscounted).
    """
    not_done = 1.0 - dones.to(x.dtype)
    valid = valids.to(x.dtype)
    step_discount = discount * valid + (1.0 - valid)
    coef = step_discount * not_done
    if x.device.type == "cpu" and not x.requires_grad:
        # the same float operations in the same order, on numpy columns: a few microseconds per step instead of
        # tens for torch's per-op dispatch (the learner runs this on every dataset)
        xs, cs = x.numpy().T, coef.numpy().T
        out_np = np.empty_like(xs)
        cumulative_np = np.zeros_like(xs[0])
        for t in range(xs.shape[0] - 1, -1, -1):
            cumulative_np = xs[t] + cs[t] * cumulative_np
            out_np[t] = cumulative_np
        return torch.from_numpy(np.ascontiguousarray(out_np.T))
    out = torch.empty_like(x)
    cumulative = torch.zeros_like(x[:, 0])
    for t in reversed(range(x.shape[1])):
        cumulative = x[:, t] + coef[:, t] * cumulative
        out[:, t] = cumulative
    return out


def gae(
    rewards: Tensor,
    dones: Tensor,
    values: Tensor,
    valids: Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016, eq. 16) with masking of invalid steps.

    rewards, dones: [B, T]; values, valids: [B, T+1] (the last column bootstraps the trajectory tail).
    delta_t = (r_t - V_t) * valid_t + (1 - done_t) * gamma * V_{t+1} * valid_{t+1}
    adv_t   = delta_t + d_t * (1 - done_t) * adv_{t+1},  d_t = gamma * lambda if valid_t else 1
    ret_t   = adv_t + valid_t * V_t
    Returns (adv, ret), both [B, T].
    """
    assert values.shape[1] == rewards.shape[1] + 1, f"values must be [B, T+1], got {tuple(values.shape)}"
    valid = valids.to(values.dtype)
    not_done = 1.0 - dones.to(values.dtype)
    v_t, v_next = values[:, :-1], values[:, 1:]
    deltas = (rewards - v_t) * valid[:, :-1] + not_done * gamma * v_next * valid[:, 1:]
    adv = discounted_sum_masked(deltas, dones, valids[:, :-1], gamma * gae_lambda)
    ret = adv + valid[:, :-1] * v_t
    return adv, ret


def vtrace(
    ratios: Tensor,
    rewards: Tensor,
    dones: Tensor,
    values: Tensor,
    valids: Tensor,
    gamma: float,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """V-trace targets and policy-gradient advantages (Espeholt et al. 2018, eq. 1 and section 4.2).

    ratios (pi/mu), rewards, dones, valids: [B, T]; values: [B, T+1] (last column = V(s_T) bootstrap).
    rho_t = min(rho_bar, ratio_t) * valid_t, c_t = min(c_bar, ratio_t) * valid_t, g_t = gamma * (1 - done_t)
    vs_t  = V_t + rho_t (r_t + g_t V_{t+1} - V_t) + g_t c_t (vs_{t+1} - V_{t+1}),  vs_T = V_T
    adv_t = rho_t (r_t + g_t vs_{t+1} - V_t)
    Returns (vs, adv), both [B, T]. No gradient flows through the result.
    """
    assert values.shape[1] == rewards.shape[1] + 1, f"values must be [B, T+1], got {tuple(values.shape)}"
    with torch.no_grad():
        dtype = values.dtype
        valid = valids.to(dtype)
        rhos = torch.clamp(ratios.to(dtype), max=rho_bar) * valid
        cs = torch.clamp(ratios.to(dtype), max=c_bar) * valid
        g = gamma * (1.0 - dones.to(dtype))
        vs = torch.empty_like(rewards, dtype=dtype)
        adv = torch.empty_like(rewards, dtype=dtype)
        next_vs = values[:, -1]
        for t in reversed(range(rewards.shape[1])):
            v_t, v_next = values[:, t], values[:, t + 1]
            delta = rhos[:, t] * (rewards[:, t] + g[:, t] * v_next - v_t)
            adv[:, t] = rhos[:, t] * (rewards[:, t] + g[:, t] * next_vs - v_t)
            next_vs = v_t + delta + g[:, t] * cs[:, t] * (next_vs - v_next)
            vs[:, t] = next_vs
    return vs, adv
