"""PPO, value, exploration and KL loss terms on small tensors against hand computations."""

from __future__ import annotations

import math

import torch

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


def close(a, b, tol=1e-6):
    return abs(float(a) - float(b)) < tol


def test_masked_mean_ignores_invalid_and_nonfinite():
    x = torch.tensor([1.0, 2.0, float("nan"), float("inf")])
    valids = torch.tensor([True, True, False, False])
    assert close(masked_mean(x, valids), 1.5)
    assert close(masked_mean(x, torch.zeros(4, dtype=torch.bool)), 0.0)
    assert close(masked_mean(torch.tensor([1.0, 3.0]), torch.tensor([1.0, 1.0])), 2.0)


def test_ppo_policy_loss_hand():
    eps = 0.25  # clip range [1/1.25, 1.25] = [0.8, 1.25]
    ratio = torch.tensor([1.5, 0.5, 1.1, 0.5, 2.0])
    adv = torch.tensor([2.0, 2.0, -1.0, -4.0, 1.0])
    valids = torch.tensor([True, True, True, True, False])
    # min(r*A, clip(r)*A): 1.5*2=3 vs 1.25*2=2.5 -> 2.5 ; 0.5*2=1 vs 0.8*2=1.6 -> 1 ;
    # 1.1*-1=-1.1 vs -1.1 -> -1.1 ; 0.5*-4=-2 vs 0.8*-4=-3.2 -> -3.2 ; last is invalid
    expected = -(2.5 + 1.0 - 1.1 - 3.2) / 4
    assert close(ppo_policy_loss(ratio, adv, eps, valids), expected)


def test_ppo_ratio_is_clamped_to_005_20():
    # ratio 100 is first clamped to 20; with a negative advantage min() takes the unclipped (clamped) term
    loss = ppo_policy_loss(torch.tensor([100.0]), torch.tensor([-1.0]), 0.1, torch.tensor([True]))
    assert close(loss, 20.0)
    r = compute_ratio(torch.tensor([0.0, 10.0, -10.0]), torch.tensor([0.0, 0.0, 0.0]))
    assert torch.allclose(r, torch.tensor([1.0, 20.0, 0.05]))
    assert close(compute_ratio(torch.tensor([math.log(2.0)]), torch.tensor([0.0])), 2.0)


def test_ppo_policy_loss_gradient_zero_when_clipped():
    ratio = torch.tensor([1.5], requires_grad=True)
    ppo_policy_loss(ratio, torch.tensor([1.0]), 0.2, torch.tensor([True])).backward()
    assert ratio.grad is not None and float(ratio.grad) == 0.0


def test_value_loss_hand():
    new = torch.tensor([3.0, 0.0, 1.0])
    old = torch.tensor([1.0, 1.0, 1.0])
    targets = torch.tensor([4.0, 2.0, 1.0])
    valids = torch.tensor([True, True, False])
    # s0: unclipped (3-4)^2=1, clipped V=1+clip(2,±1)=2 -> (2-4)^2=4 -> 4
    # s1: unclipped (0-2)^2=4, clipped V=1+clip(-1)=0 -> 4 -> 4
    assert close(value_loss(new, old, targets, 1.0, valids), (4.0 + 4.0) / 2)
    # no clipping when the clip range is large
    assert close(value_loss(new, old, targets, 100.0, valids), (1.0 + 4.0) / 2)


def test_entropy_symmetric_kl_and_kl_penalty():
    valids = torch.tensor([True, True, False])
    assert close(entropy_loss(torch.tensor([1.0, 3.0, 100.0]), valids, 0.01), -0.02)
    assert close(symmetric_kl_loss(torch.tensor([1.0, 3.0, 100.0]), valids, 0.5), 1.0)
    assert close(symmetric_kl_loss(torch.tensor([50.0, 70.0, 0.0]), valids, 0.5), 15.0)  # clamp at 30
    assert close(symmetric_kl_loss(torch.tensor([float("inf"), 1.0, 0.0]), valids, 0.5), 0.0)
    assert close(kl_penalty_loss(torch.tensor([0.2, 0.4, 9.0]), valids, 0.1), 0.03)


def test_normalize_advantages_hand():
    adv = torch.tensor([1.0, 3.0, 5.0, 1000.0])
    valids = torch.tensor([True, True, True, False])
    # mean 3, unbiased std 2 -> [-1, 0, 1]
    out = normalize_advantages(adv, valids)
    assert torch.allclose(out[:3], torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(adv, torch.tensor([1.0, 3.0, 5.0, 1000.0]))
    # constant advantages: std 0 is floored at 1e-7, result is 0
    assert torch.allclose(normalize_advantages(torch.full((3,), 2.0), torch.ones(3, dtype=torch.bool)), torch.zeros(3))
    assert torch.allclose(normalize_advantages(torch.tensor([5.0]), torch.tensor([True])), torch.zeros(1))
