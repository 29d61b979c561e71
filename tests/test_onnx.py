"""Tests of sample_factory.export_onnx: onnxruntime's outputs against torch's for feed-forward, recurrent, continuous
and action-masked policies; input/output names; dynamic batch axis; the example script."""

from __future__ import annotations

import importlib.util
import os

import gymnasium as gym
import numpy as np
import pytest
import torch

from sample_factory.algo.utils.env_info import obtain_env_info
from sample_factory.enjoy import compute_actions, load_eval_cfg, load_policy
from sample_factory.envs.env_utils import register_env
from sample_factory.export_onnx import export_onnx
from sample_factory.model.model_utils import get_rnn_size
from sf_examples.train_gym_env import parse_args

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

_spec = importlib.util.spec_from_file_location(
    "make_experiment", os.path.join(os.path.dirname(__file__), "data", "make_experiment.py")
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


class MaskedEnv(gym.Env):
    """Dict observations with an `action_mask` over Discrete(5)."""

    observation_space = gym.spaces.Dict(
        {"obs": gym.spaces.Box(-1.0, 1.0, (6,), np.float32), "action_mask": gym.spaces.Box(0, 1, (5,), np.int8)}
    )
    action_space = gym.spaces.Discrete(5)

    def reset(self, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def make_masked_env(full_env_name, cfg=None, env_config=None, render_mode=None):
    return MaskedEnv()


def _export(tmp_path, env: str, extra: list[str], *eval_args: str):
    helpers.make_experiment(str(tmp_path), "exp", env=env, extra=extra, seed=3)
    argv = [f"--env={env}", "--experiment=exp", f"--train_dir={tmp_path}", "--device=cpu", *eval_args]
    cfg = parse_args(argv, evaluation=True)
    path = str(tmp_path / "policy.onnx")
    assert export_onnx(cfg, path) == 0
    cfg = load_eval_cfg(cfg)
    env_info = obtain_env_info(cfg)
    model, _ = load_policy(cfg, env_info)
    return cfg, env_info, model, ort.InferenceSession(path), path


def _random_obs(env_info, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    obs = {}
    for key, space in env_info.obs_space.spaces.items():
        if key == "action_mask":
            mask = (rng.random((batch, *space.shape)) < 0.5).astype(space.dtype)
            mask[:, 0] = 1  # at least one legal action
            obs[key] = mask
        else:
            obs[key] = rng.normal(size=(batch, *space.shape)).astype(np.float32)
    return obs


def test_feed_forward_deterministic_matches_torch_with_dynamic_batch(tmp_path):
    cfg, env_info, model, sess, path = _export(
        tmp_path, "CartPole-v1", ["--use_rnn=False"], "--eval_deterministic=True"
    )
    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == ["obs"]
    assert [o.name for o in graph.output] == ["output_actions"]
    rng = np.random.default_rng(0)
    for batch in (1, 7, 64):
        obs = _random_obs(env_info, batch, rng)
        (onnx_actions,) = sess.run(None, obs)
        torch_actions, _ = compute_actions(model, obs, torch.zeros((batch, get_rnn_size(cfg))), deterministic=True)
        np.testing.assert_array_equal(onnx_actions, torch_actions)
    assert len(set(onnx_actions.tolist())) == 2  # the comparison covers both actions, not a constant policy


def test_feed_forward_stochastic_samples_follow_the_policy(tmp_path):
    cfg, env_info, model, sess, _ = _export(tmp_path, "CartPole-v1", ["--use_rnn=False"])
    obs = {"obs": np.repeat(_random_obs(env_info, 1, np.random.default_rng(1))["obs"], 4000, axis=0)}
    (actions,) = sess.run(None, obs)
    assert set(np.unique(actions)) <= {0, 1}
    with torch.no_grad():
        logits = model(model.normalize_obs({"obs": torch.from_numpy(obs["obs"][:1])}), torch.zeros((1, 1)))
    p1 = torch.softmax(logits["action_logits"], dim=1)[0, 1].item()
    assert actions.mean() == pytest.approx(p1, abs=0.03)  # 4000 samples: std of the mean < 0.008


@pytest.mark.parametrize("rnn_type, shared", [("gru", True), ("lstm", False)])
def test_recurrent_matches_torch_over_steps(tmp_path, rnn_type, shared):
    extra = ["--use_rnn=True", f"--rnn_type={rnn_type}", f"--actor_critic_share_weights={shared}"]
    cfg, env_info, model, sess, path = _export(tmp_path, "CartPole-v1", extra, "--eval_deterministic=True")
    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == ["obs", "rnn_states"]
    assert [o.name for o in graph.output] == ["output_actions", "output_rnn_states"]
    rng = np.random.default_rng(2)
    for batch in (1, 3):
        state_onnx = np.zeros((batch, get_rnn_size(cfg)), np.float32)
        state_torch = torch.zeros((batch, get_rnn_size(cfg)))
        for _ in range(4):  # states fed back: the recurrence itself is compared
            obs = _random_obs(env_info, batch, rng)
            actions_onnx, state_onnx = sess.run(None, {**obs, "rnn_states": state_onnx})
            actions_torch, state_torch = compute_actions(model, obs, state_torch, deterministic=True)
            np.testing.assert_array_equal(actions_onnx, actions_torch)
            np.testing.assert_allclose(state_onnx, state_torch.numpy(), rtol=1e-4, atol=1e-5)
        assert np.abs(state_onnx).max() > 1e-3


def test_continuous_actions_are_the_means(tmp_path):
    cfg, env_info, model, sess, _ = _export(tmp_path, "Pendulum-v1", ["--use_rnn=False"], "--eval_deterministic=True")
    obs = _random_obs(env_info, 16, np.random.default_rng(3))
    (actions,) = sess.run(None, obs)
    expected, _ = compute_actions(model, obs, torch.zeros((16, 1)), deterministic=True)
    assert actions.shape == (16, 1)
    np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-6)


def test_action_mask_is_an_input_and_respected(tmp_path):
    register_env("masked_env", make_masked_env)
    cfg, env_info, model, sess, path = _export(tmp_path, "masked_env", ["--use_rnn=False"], "--eval_deterministic=True")
    assert [i.name for i in onnx.load(path).graph.input] == ["obs", "action_mask"]
    obs = _random_obs(env_info, 200, np.random.default_rng(4))
    (actions,) = sess.run(None, obs)
    assert np.all(obs["action_mask"][np.arange(200), actions] == 1)
    expected, _ = compute_actions(model, obs, torch.zeros((200, 1)), deterministic=True)
    np.testing.assert_array_equal(actions, expected)
    stochastic_cfg = parse_args(
        ["--env=masked_env", "--experiment=exp", f"--train_dir={tmp_path}", "--device=cpu"], evaluation=True
    )
    assert export_onnx(stochastic_cfg, str(tmp_path / "s.onnx")) == 0
    (sampled,) = ort.InferenceSession(str(tmp_path / "s.onnx")).run(None, obs)
    assert np.all(obs["action_mask"][np.arange(200), sampled] == 1)


def test_example_script_writes_experiment_onnx(tmp_path, monkeypatch):
    from sf_examples.export_onnx_gym_env import main

    helpers.make_experiment(str(tmp_path), "exp", extra=["--use_rnn=False"])
    monkeypatch.chdir(tmp_path)
    assert main(["--env=CartPole-v1", "--experiment=exp", f"--train_dir={tmp_path}", "--device=cpu"]) == 0
    assert (tmp_path / "exp.onnx").is_file()
    assert main(["--env=CartPole-v1", "--experiment=none", f"--train_dir={tmp_path}", "--device=cpu"]) == 1
    assert not (tmp_path / "none.onnx").exists()
