"""Running mean/std normalizers against numpy, and the observation normalizer."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from sample_factory.algo.utils.running_mean_std import RunningMeanStdInPlace as ReExported
from sample_factory.model.running_mean_std import (
    ObservationNormalizer,
    RunningMeanStdDictInPlace,
    RunningMeanStdInPlace,
    update_mean_var_count,
)
from sample_factory.utils.attr_dict import AttrDict


def test_reexport_is_same_class():
    assert ReExported is RunningMeanStdInPlace


def test_buffers_dtype_shape_and_initial_values():
    rms = RunningMeanStdInPlace((3, 2))
    sd = rms.state_dict()
    assert set(sd) == {"running_mean", "running_var", "count"}
    assert sd["running_mean"].dtype == torch.float64 and sd["running_mean"].shape == (3, 2)
    assert sd["count"].shape == (1,) and sd["count"].item() == 1.0
    assert torch.all(sd["running_var"] == 1.0) and torch.all(sd["running_mean"] == 0.0)


def test_update_matches_numpy_over_several_batches():
    rng = np.random.default_rng(0)
    rms = RunningMeanStdInPlace((4,))
    rms.train()
    batches = [rng.normal(loc=3.0, scale=2.0, size=(n, 4)) for n in (5, 17, 1, 40)]
    for b in batches:
        rms(torch.tensor(b, dtype=torch.float32))
    # the initial state counts as one pseudo-sample with mean 0 and var 1 (count starts at 1)
    all_data = np.concatenate(batches)
    n = len(all_data)
    expected_mean = all_data.mean(0) * n / (n + 1)
    m2 = all_data.var(0) * n + 1.0 + (all_data.mean(0) ** 2) * n * 1 / (n + 1)
    expected_var = m2 / (n + 1)
    np.testing.assert_allclose(rms.running_mean.numpy(), expected_mean, rtol=1e-5)
    np.testing.assert_allclose(rms.running_var.numpy(), expected_var, rtol=1e-5)
    assert rms.count.item() == n + 1


def test_chan_update_equals_pooled_statistics():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(7, 3)), rng.normal(2.0, 3.0, size=(11, 3))
    mean, var, count = update_mean_var_count(
        torch.tensor(a.mean(0)),
        torch.tensor(a.var(0)),
        torch.tensor([7.0]),
        torch.tensor(b.mean(0)),
        torch.tensor(b.var(0)),
        11,
    )
    both = np.concatenate([a, b])
    np.testing.assert_allclose(mean.numpy(), both.mean(0))
    np.testing.assert_allclose(var.numpy(), both.var(0))
    assert count.item() == 18


def test_normalizes_in_place_with_clip_and_denormalizes():
    rms = RunningMeanStdInPlace((2,))
    rms.running_mean.copy_(torch.tensor([1.0, -2.0], dtype=torch.float64))
    rms.running_var.copy_(torch.tensor([4.0, 0.25], dtype=torch.float64))
    rms.eval()
    x = torch.tensor([[3.0, -2.0], [100.0, -1.0]])
    out = rms(x)
    assert out is x  # in place
    std = np.sqrt(np.array([4.0, 0.25]) + 1e-5)
    expected = np.clip((np.array([[3.0, -2.0], [100.0, -1.0]]) - [1.0, -2.0]) / std, -5, 5)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6)
    assert x[1, 0].item() == 5.0  # clipped
    y = torch.tensor([[1.0, 7.0]])
    rms(y, denormalize=True)  # normalized values are clipped to +-5 first (as upstream)
    np.testing.assert_allclose(y.numpy(), [[1.0 * std[0] + 1.0, 5.0 * std[1] - 2.0]], rtol=1e-6)
    assert rms.count.item() == 1.0  # eval mode: no update


def test_update_works_under_inference_mode():
    rms = RunningMeanStdInPlace((1,))
    with torch.inference_mode():
        rms(torch.full((10, 1), 3.0))
    assert rms.count.item() == 11.0
    assert rms.running_mean.item() == pytest.approx(30.0 / 11.0)


def test_dict_normalizer_selects_keys():
    space = gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,)), "b": gym.spaces.Box(-1, 1, (3,))})
    both = RunningMeanStdDictInPlace(space)
    assert list(both.running_mean_std.keys()) == ["a", "b"]
    only_b = RunningMeanStdDictInPlace(space, ["b"])
    assert list(only_b.running_mean_std.keys()) == ["b"]
    with pytest.raises(ValueError, match="not observation keys"):
        RunningMeanStdDictInPlace(space, ["c"])


def _obs_cfg(**kw):
    cfg = AttrDict(obs_subtract_mean=0.0, obs_scale=1.0, normalize_input=True, normalize_input_keys=None)
    cfg.update(kw)
    return cfg


def test_observation_normalizer_scale_and_keys_without_mutating_input():
    space = gym.spaces.Dict(
        {"obs": gym.spaces.Box(0, 255, (2,), np.uint8), "extra": gym.spaces.Box(-1, 1, (1,), np.float32)}
    )
    norm = ObservationNormalizer(space, _obs_cfg(obs_subtract_mean=10.0, obs_scale=2.0, normalize_input_keys=["extra"]))
    norm.eval()
    obs = {
        "obs": torch.tensor([[20, 30]], dtype=torch.uint8),
        "extra": torch.tensor([[0.5]]),
        "action_mask": torch.tensor([[1, 0]]),
    }
    out = norm(obs)
    assert out["obs"].dtype == torch.float32
    np.testing.assert_allclose(out["obs"].numpy(), [[5.0, 10.0]])  # (x - 10) / 2, no running norm on "obs"
    np.testing.assert_allclose(out["extra"].numpy(), [[0.5 / np.sqrt(1 + 1e-5)]], rtol=1e-6)
    assert obs["extra"].item() == 0.5 and obs["obs"].dtype == torch.uint8  # caller's tensors untouched
    assert out["action_mask"] is obs["action_mask"]


def test_observation_normalizer_disabled_has_no_stats():
    space = gym.spaces.Dict({"obs": gym.spaces.Box(-1, 1, (2,))})
    norm = ObservationNormalizer(space, _obs_cfg(normalize_input=False))
    assert norm.running_mean_std is None and len(norm.state_dict()) == 0
    x = torch.randn(3, 2)
    assert norm({"obs": x})["obs"] is x  # nothing to do: no copy
