"""Action distributions and the action-space contract (shapes, dtypes, log-probs, entropies, KLs, masks)."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Independent, Normal, kl_divergence

from sample_factory.algo.utils.action_distributions import get_action_distribution as reexported_get
from sample_factory.algo.utils.spaces.discretized import Discretized
from sample_factory.model.action_distributions import (
    CategoricalActionDistribution,
    ContinuousActionDistribution,
    action_buffer_spec,
    actions_to_env,
    argmax_actions,
    calc_action_mask_size,
    calc_num_action_logits,
    calc_num_actions,
    get_action_distribution,
    is_continuous_action_space,
    masked_logits,
)

B = 6
DISCRETE = gym.spaces.Discrete(5)
MULTI = gym.spaces.MultiDiscrete([3, 4])
BOX = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
TUPLE = gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Discrete(2)))

# space, action shape per step, dtype, number of logits, mask width
CONTRACT = [
    (DISCRETE, (), torch.int64, 5, 5),
    (MULTI, (2,), torch.int64, 7, 7),
    (BOX, (3,), torch.float32, 6, 0),
    (TUPLE, (4,), torch.float32, 3 + 4 + 2, 5),
]


@pytest.mark.parametrize("space,shape,dtype,num_logits,mask_size", CONTRACT)
def test_contract_shapes_and_dtypes(space, shape, dtype, num_logits, mask_size):
    assert action_buffer_spec(space) == (shape, dtype)
    assert calc_num_action_logits(space) == num_logits
    assert calc_action_mask_size(space) == mask_size
    assert calc_num_actions(space) == (shape[0] if shape else 1)
    dist = get_action_distribution(space, torch.randn(B, num_logits))
    actions = dist.sample()
    assert actions.shape == (B, *shape) and actions.dtype == dtype
    assert argmax_actions(dist).shape == (B, *shape) and argmax_actions(dist).dtype == dtype
    for value in (dist.log_prob(actions), dist.entropy(), dist.kl_divergence(dist)):
        assert value.shape == (B,) and torch.isfinite(value).all()
    assert torch.allclose(dist.kl_divergence(dist), torch.zeros(B), atol=1e-5)
    env_actions = actions_to_env(space, actions.numpy())
    assert len(env_actions) == B
    for a in env_actions:
        if isinstance(space, gym.spaces.Box):  # Gaussian samples are not clipped to the bounds (as upstream)
            assert a.shape == space.shape and a.dtype == space.dtype
        elif isinstance(space, gym.spaces.Tuple):
            assert space.spaces[0].contains(a[0]) and space.spaces[2].contains(a[2]) and a[1].shape == (2,)
        else:
            assert space.contains(a), (space, a)


def test_reexport_and_continuity():
    assert reexported_get is get_action_distribution
    assert is_continuous_action_space(BOX) and not is_continuous_action_space(DISCRETE)


def test_box_must_be_1d():
    with pytest.raises(ValueError, match="1-D"):
        calc_num_action_logits(gym.spaces.Box(-1, 1, (2, 2)))
    with pytest.raises(TypeError, match="Unsupported action space"):
        calc_num_action_logits(gym.spaces.MultiBinary(3))


def test_categorical_against_torch():
    logits = torch.randn(B, 5)
    other_logits = torch.randn(B, 5)
    dist = get_action_distribution(DISCRETE, logits)
    ref = Categorical(logits=logits)
    actions = torch.randint(0, 5, (B,))
    assert torch.allclose(dist.log_prob(actions), ref.log_prob(actions), atol=1e-6)
    assert torch.allclose(dist.entropy(), ref.entropy(), atol=1e-6)
    other = get_action_distribution(DISCRETE, other_logits)
    assert torch.allclose(dist.kl_divergence(other), kl_divergence(ref, Categorical(logits=other_logits)), atol=1e-6)
    assert torch.equal(argmax_actions(dist), logits.argmax(-1))


def test_categorical_sampling_frequencies():
    torch.manual_seed(0)
    probs = torch.tensor([0.1, 0.6, 0.3])
    dist = CategoricalActionDistribution(probs.log().expand(20000, 3))
    freq = torch.bincount(dist.sample(), minlength=3).float() / 20000
    assert torch.allclose(freq, probs, atol=0.02)


def test_symmetric_kl_with_uniform_prior_hand_math():
    probs = torch.tensor([[0.5, 0.25, 0.25]])
    dist = CategoricalActionDistribution(probs.log())
    u = 1.0 / 3.0
    kl_pu = sum(p * math.log(p / u) for p in (0.5, 0.25, 0.25))
    kl_up = sum(u * math.log(u / p) for p in (0.5, 0.25, 0.25))
    assert dist.symmetric_kl_with_uniform_prior().item() == pytest.approx(0.5 * (kl_pu + kl_up), rel=1e-5)
    # with a mask the prior is uniform over the allowed actions: p = (0.5, 0.5) over 2 actions -> 0
    masked = CategoricalActionDistribution(torch.zeros(1, 3), torch.tensor([[1, 0, 1]]))
    assert masked.symmetric_kl_with_uniform_prior().item() == pytest.approx(0.0, abs=1e-6)


def test_action_mask_never_samples_masked_actions():
    torch.manual_seed(0)
    mask = torch.tensor([[1, 0, 0, 1, 0]] * 500)
    logits = torch.zeros(500, 5)
    logits[:, 1] = 50.0  # strongly preferred but masked
    dist = get_action_distribution(DISCRETE, logits, mask)
    actions = dist.sample()
    assert set(actions.tolist()) == {0, 3}
    assert argmax_actions(dist).tolist() == [0] * 500
    assert torch.allclose(dist.log_prob(torch.zeros(500, dtype=torch.long)), torch.full((500,), math.log(0.5)))
    assert torch.isfinite(dist.entropy()).all()
    assert dist.entropy()[0].item() == pytest.approx(math.log(2), rel=1e-5)


def test_all_zero_mask_is_uniform_and_finite():
    dist = get_action_distribution(DISCRETE, torch.randn(2, 5), torch.zeros(2, 5))
    assert torch.allclose(dist.probs, torch.full((2, 5), 0.2))
    assert torch.isfinite(dist.symmetric_kl_with_uniform_prior()).all()
    assert torch.isfinite(dist.entropy()).all()


def test_masked_logits_tuple_skips_box_params():
    logits = torch.zeros(1, 9)
    mask = torch.tensor([[1, 0, 1, 0, 1]])  # Discrete(3) part then Discrete(2) part
    out = masked_logits(TUPLE, logits, mask)
    assert out[0, :3].tolist() == [0.0, -1e9, 0.0]
    assert out[0, 3:7].tolist() == [0.0] * 4  # Box means and log-stds untouched
    assert out[0, 7:].tolist() == [-1e9, 0.0]
    assert logits.abs().sum().item() == 0.0  # input not modified
    # a distribution rebuilt from masked logits (no mask) equals the masked one
    a = get_action_distribution(TUPLE, logits, mask)
    b = get_action_distribution(TUPLE, out)
    acts = a.sample()
    assert acts[0, 0].item() in (0.0, 2.0) and acts[0, 3].item() == 1.0
    assert torch.allclose(a.log_prob(acts), b.log_prob(acts))


def test_gaussian_against_torch_and_std_clamp():
    params = torch.randn(B, 6)
    params[0, 3] = -50.0  # exp(-50) < 1e-4 -> clamped
    dist = get_action_distribution(BOX, params)
    means, log_std = params.chunk(2, dim=1)
    std = log_std.exp().clamp(1e-4, 1e4)
    assert std[0, 0].item() == pytest.approx(1e-4)
    ref = Independent(Normal(means, std), 1)
    actions = torch.randn(B, 3) * 0.01 + means
    assert torch.allclose(dist.log_prob(actions), ref.log_prob(actions), rtol=1e-5, atol=1e-4)
    assert torch.allclose(dist.entropy(), ref.entropy(), atol=1e-5)
    other_params = torch.randn(B, 6)
    other = get_action_distribution(BOX, other_params)
    m2, ls2 = other_params.chunk(2, dim=1)
    ref2 = Independent(Normal(m2, ls2.exp()), 1)
    assert torch.allclose(dist.kl_divergence(other), kl_divergence(ref, ref2), rtol=1e-4)
    assert torch.equal(argmax_actions(dist), means)
    with pytest.raises(NotImplementedError, match="entropy"):
        dist.symmetric_kl_with_uniform_prior()


def test_gaussian_samples_are_not_squashed():
    torch.manual_seed(0)
    params = torch.cat([torch.full((1000, 3), 5.0), torch.zeros(1000, 3)], dim=1)  # mean 5 outside the [-1,1] box
    samples = ContinuousActionDistribution(params).sample()
    assert samples.mean().item() == pytest.approx(5.0, abs=0.1)
    assert samples.std().item() == pytest.approx(1.0, abs=0.1)


def test_multidiscrete_sums_components():
    logits = torch.randn(B, 7)
    dist = get_action_distribution(MULTI, logits)
    c0, c1 = Categorical(logits=logits[:, :3]), Categorical(logits=logits[:, 3:])
    actions = dist.sample()
    assert torch.allclose(dist.log_prob(actions), c0.log_prob(actions[:, 0]) + c1.log_prob(actions[:, 1]), atol=1e-6)
    assert torch.allclose(dist.entropy(), c0.entropy() + c1.entropy(), atol=1e-6)
    assert torch.equal(argmax_actions(dist), torch.stack([logits[:, :3].argmax(1), logits[:, 3:].argmax(1)], 1))


def test_tuple_sums_parts_and_layout():
    logits = torch.randn(B, 9)
    other_logits = torch.randn(B, 9)
    dist = get_action_distribution(TUPLE, logits)
    other = get_action_distribution(TUPLE, other_logits)
    actions = dist.sample()
    d0, g, d1 = (
        Categorical(logits=logits[:, :3]),
        Normal(logits[:, 3:5], logits[:, 5:7].exp()),
        Categorical(logits=logits[:, 7:]),
    )
    expected_lp = (
        d0.log_prob(actions[:, 0].long()) + g.log_prob(actions[:, 1:3]).sum(1) + d1.log_prob(actions[:, 3].long())
    )
    assert torch.allclose(dist.log_prob(actions), expected_lp, atol=1e-5)
    assert torch.allclose(dist.entropy(), d0.entropy() + g.entropy().sum(1) + d1.entropy(), atol=1e-5)
    o0, og, o1 = (
        Categorical(logits=other_logits[:, :3]),
        Normal(other_logits[:, 3:5], other_logits[:, 5:7].exp()),
        Categorical(logits=other_logits[:, 7:]),
    )
    expected_kl = kl_divergence(d0, o0) + kl_divergence(g, og).sum(1) + kl_divergence(d1, o1)
    assert torch.allclose(dist.kl_divergence(other), expected_kl, atol=1e-4)
    # symmetric KL covers the discrete parts only
    expected_sym = (
        CategoricalActionDistribution(logits[:, :3]).symmetric_kl_with_uniform_prior()
        + CategoricalActionDistribution(logits[:, 7:]).symmetric_kl_with_uniform_prior()
    )
    assert torch.allclose(dist.symmetric_kl_with_uniform_prior(), expected_sym)
    am = argmax_actions(dist)
    assert am[:, 0].tolist() == logits[:, :3].argmax(1).float().tolist()
    assert torch.equal(am[:, 1:3], logits[:, 3:5])


def test_actions_to_env_values():
    assert actions_to_env(DISCRETE, np.array([3, 0])) == [3, 0]
    assert actions_to_env(gym.spaces.Discrete(3, start=-1), np.array([0, 2])) == [-1, 1]
    env = actions_to_env(TUPLE, np.array([[2.0, 0.5, -0.5, 1.0]], dtype=np.float32))
    assert env[0][0] == 2 and isinstance(env[0][0], int) and env[0][2] == 1
    np.testing.assert_allclose(env[0][1], [0.5, -0.5])
    md = actions_to_env(MULTI, np.array([[2, 3]]))
    assert md[0].tolist() == [2, 3]


def test_discretized_space():
    space = Discretized(5, -1.0, 1.0)
    assert isinstance(space, gym.spaces.Discrete) and space.n == 5
    assert space.to_continuous(0) == -1.0 and space.to_continuous(4) == 1.0 and space.to_continuous(1) == -0.5
    np.testing.assert_allclose(space.to_continuous(np.array([2, 3])), [0.0, 0.5])
    assert calc_num_action_logits(gym.spaces.Tuple((space, gym.spaces.Discrete(2)))) == 7
