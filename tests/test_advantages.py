"""GAE, V-trace and value bootstrap against plain Python loops and hand computations."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch

from sample_factory.algo.learning.advantages import apply_value_bootstrap, discounted_sum_masked, gae, vtrace
from sample_factory.algo.utils.rl_utils import gae_advantages, make_dones, samples_per_trajectory


def gae_loop(rewards, dones, values, valids, gamma, lam):
    """Reference: per trajectory, scalar floats, straight from the documented formulas."""
    B, T = len(rewards), len(rewards[0])
    adv = [[0.0] * T for _ in range(B)]
    ret = [[0.0] * T for _ in range(B)]
    for b in range(B):
        last = 0.0
        for t in reversed(range(T)):
            nd = 1.0 - dones[b][t]
            delta = (rewards[b][t] - values[b][t]) * valids[b][t] + nd * gamma * values[b][t + 1] * valids[b][t + 1]
            disc = gamma * lam if valids[b][t] else 1.0
            last = delta + disc * nd * last
            adv[b][t] = last
            ret[b][t] = last + valids[b][t] * values[b][t]
    return adv, ret


def vtrace_loop(ratios, rewards, dones, values, valids, gamma, rho_bar, c_bar):
    B, T = len(rewards), len(rewards[0])
    vs = [[0.0] * T for _ in range(B)]
    adv = [[0.0] * T for _ in range(B)]
    for b in range(B):
        vs_next = values[b][T]
        for t in reversed(range(T)):
            g = gamma * (1.0 - dones[b][t])
            rho = min(rho_bar, ratios[b][t]) * valids[b][t]
            c = min(c_bar, ratios[b][t]) * valids[b][t]
            adv[b][t] = rho * (rewards[b][t] + g * vs_next - values[b][t])
            vs_t = values[b][t] + rho * (rewards[b][t] + g * values[b][t + 1] - values[b][t])
            vs_t += g * c * (vs_next - values[b][t + 1])
            vs[b][t] = vs_t
            vs_next = vs_t
    return vs, adv


def random_batch(seed, B=3, T=7, p_done=0.2, p_invalid=0.2):
    rng = random.Random(seed)
    rewards = [[rng.uniform(-2, 2) for _ in range(T)] for _ in range(B)]
    dones = [[float(rng.random() < p_done) for _ in range(T)] for _ in range(B)]
    values = [[rng.uniform(-3, 3) for _ in range(T + 1)] for _ in range(B)]
    valids = [[float(rng.random() >= p_invalid) for _ in range(T + 1)] for _ in range(B)]
    ratios = [[rng.uniform(0.3, 2.5) for _ in range(T)] for _ in range(B)]
    return rewards, dones, values, valids, ratios


def t64(x):
    return torch.tensor(x, dtype=torch.float64)


@pytest.mark.parametrize(
    "gamma,lam,p_done,p_invalid,seed",
    list(itertools.product([0.0, 0.9, 0.99], [0.0, 0.95, 1.0], [0.0, 0.3], [0.0, 0.3], [0, 1])),
)
def test_gae_matches_loop(gamma, lam, p_done, p_invalid, seed):
    rewards, dones, values, valids, _ = random_batch(seed, p_done=p_done, p_invalid=p_invalid)
    adv, ret = gae(t64(rewards), t64(dones).bool(), t64(values), t64(valids).bool(), gamma, lam)
    ref_adv, ref_ret = gae_loop(rewards, dones, values, valids, gamma, lam)
    np.testing.assert_allclose(adv.numpy(), ref_adv, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ret.numpy(), ref_ret, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_discounted_sum_numpy_path_equals_torch_path(dtype):
    """CPU tensors take a numpy loop; tensors that require grad take the torch loop: bit-identical results."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(7, 13, generator=g, dtype=dtype)
    dones, valids = torch.rand(7, 13, generator=g) < 0.2, torch.rand(7, 13, generator=g) < 0.8
    fast = discounted_sum_masked(x, dones, valids, 0.9405)
    reference = discounted_sum_masked(x.clone().requires_grad_(), dones, valids, 0.9405).detach()
    assert fast.dtype == dtype and fast.shape == x.shape and fast.is_contiguous()
    assert torch.equal(fast, reference)
    # hand computation of one row: out_t = x_t + d_t * (1 - done_t) * out_{t+1}, d_t = 0.9405 if valid else 1
    row = 2
    expected, acc = [0.0] * 13, 0.0
    for t in reversed(range(13)):
        d = 0.9405 if bool(valids[row, t]) else 1.0
        acc = float(x[row, t]) + d * (0.0 if bool(dones[row, t]) else 1.0) * acc
        expected[t] = acc
    np.testing.assert_allclose(fast[row].numpy(), expected, rtol=1e-5 if dtype == torch.float32 else 1e-12)


def test_gae_hand_computation():
    # one trajectory, T=2, gamma=0.5, lambda=0.5, no dones, all valid.
    # delta_1 = r1 - V1 + g*V2 = 2 - 1 + 0.5*4 = 3 ; delta_0 = 1 - 2 + 0.5*1 = -0.5
    # adv_1 = 3 ; adv_0 = -0.5 + 0.25*3 = 0.25 ; ret = adv + V = [2.25, 4]
    rewards, dones = torch.tensor([[1.0, 2.0]]), torch.tensor([[False, False]])
    values, valids = torch.tensor([[2.0, 1.0, 4.0]]), torch.ones(1, 3, dtype=torch.bool)
    adv, ret = gae(rewards, dones, values, valids, 0.5, 0.5)
    assert torch.allclose(adv, torch.tensor([[0.25, 3.0]]))
    assert torch.allclose(ret, torch.tensor([[2.25, 4.0]]))
    # a done at t=0 cuts the bootstrap and the trace: delta_0 = 1 - 2 = -1, adv_0 = -1
    adv, ret = gae(rewards, torch.tensor([[True, False]]), values, valids, 0.5, 0.5)
    assert torch.allclose(adv, torch.tensor([[-1.0, 3.0]]))
    assert torch.allclose(ret, torch.tensor([[1.0, 4.0]]))
    # invalid bootstrap value at T: delta_1 = 2 - 1 = 1, adv_0 = -0.5 + 0.25 = -0.25
    valids = torch.tensor([[True, True, False]])
    adv, _ = gae(rewards, dones, values, valids, 0.5, 0.5)
    assert torch.allclose(adv, torch.tensor([[-0.25, 1.0]]))
    assert torch.allclose(gae_advantages(rewards, dones, values, valids, 0.5, 0.5), adv)


def test_gae_does_not_modify_inputs_and_keeps_dtype():
    rewards, dones, values, valids, _ = random_batch(3)
    r, v = torch.tensor(rewards), torch.tensor(values)
    r0, v0 = r.clone(), v.clone()
    adv, ret = gae(r, torch.tensor(dones).bool(), v, torch.tensor(valids).bool(), 0.99, 0.95)
    assert torch.equal(r, r0) and torch.equal(v, v0)
    assert adv.dtype == torch.float32 and adv.shape == r.shape and ret.shape == r.shape


@pytest.mark.parametrize(
    "gamma,rho_bar,c_bar,p_done,p_invalid,seed",
    list(itertools.product([0.9, 0.99], [1.0, 0.5], [1.0, 2.0], [0.0, 0.3], [0.0, 0.3], [0, 1])),
)
def test_vtrace_matches_loop(gamma, rho_bar, c_bar, p_done, p_invalid, seed):
    rewards, dones, values, valids, ratios = random_batch(seed, p_done=p_done, p_invalid=p_invalid)
    valids_t = [row[:-1] for row in valids]
    vs, adv = vtrace(t64(ratios), t64(rewards), t64(dones), t64(values), t64(valids_t), gamma, rho_bar, c_bar)
    ref_vs, ref_adv = vtrace_loop(ratios, rewards, dones, values, valids_t, gamma, rho_bar, c_bar)
    np.testing.assert_allclose(vs.numpy(), ref_vs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(adv.numpy(), ref_adv, rtol=1e-12, atol=1e-12)


def test_vtrace_on_policy_equals_lambda_one_returns():
    # with pi == mu (ratios 1) and rho_bar, c_bar >= 1, vs is the n-step bootstrapped return = GAE(lambda=1) return
    rewards, dones, values, _, _ = random_batch(7, B=4, T=9, p_done=0.2)
    ones_t, ones_t1 = torch.ones(4, 9), torch.ones(4, 10)
    vs, adv = vtrace(ones_t, t64(rewards), t64(dones), t64(values), ones_t, 0.97)
    _, ret = gae(t64(rewards), t64(dones), t64(values), ones_t1, 0.97, 1.0)
    assert torch.allclose(vs, ret)
    # the pg advantage is r + g*vs_{t+1} - V_t
    g = 0.97 * (1 - t64(dones))
    next_vs = torch.cat([vs[:, 1:], t64(values)[:, -1:]], dim=1)
    assert torch.allclose(adv, t64(rewards) + g * next_vs - t64(values)[:, :-1])


def test_vtrace_hand_computation():
    # T=1: vs_0 = V0 + rho*(r + g*V1 - V0) ; ratio 2 truncated to rho_bar=1: vs = 1 + (1 + 0.5*2 - 1) = 2
    vs, adv = vtrace(
        torch.tensor([[2.0]]), torch.tensor([[1.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0, 2.0]]),
        torch.tensor([[1.0]]), 0.5, rho_bar=1.0, c_bar=1.0,
    )  # fmt: skip
    assert torch.allclose(vs, torch.tensor([[2.0]])) and torch.allclose(adv, torch.tensor([[1.0]]))
    # ratio 0.5 (not truncated): vs = 1 + 0.5 * 1 = 1.5, adv = 0.5 * 1 = 0.5
    vs, adv = vtrace(
        torch.tensor([[0.5]]), torch.tensor([[1.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0, 2.0]]),
        torch.tensor([[1.0]]), 0.5,
    )  # fmt: skip
    assert torch.allclose(vs, torch.tensor([[1.5]])) and torch.allclose(adv, torch.tensor([[0.5]]))


def test_value_bootstrap():
    rewards = torch.tensor([[1.0, 2.0, 3.0]])
    values = torch.tensor([[10.0, 20.0, 30.0]])
    time_outs = torch.tensor([[False, True, True]])
    dones = torch.tensor([[False, True, False]])  # a time-out flag without done is ignored
    out = apply_value_bootstrap(rewards, values, time_outs, dones, 0.5)
    assert torch.allclose(out, torch.tensor([[1.0, 12.0, 3.0]]))
    assert torch.equal(rewards, torch.tensor([[1.0, 2.0, 3.0]]))


def test_rl_utils_helpers():
    assert make_dones(True, False) is True and make_dones(False, False) is False
    assert make_dones([True, False], [False, False]) == [True, False]
    assert np.array_equal(make_dones(np.array([0, 1, 0], bool), np.array([1, 0, 0], bool)), [True, True, False])
    out = make_dones(torch.tensor([False, False]), torch.tensor([True, False]))
    assert torch.equal(out, torch.tensor([True, False]))
    assert samples_per_trajectory({"rewards": torch.zeros(4, 32)}) == 128
