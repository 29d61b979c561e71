"""Tests of sample_factory.enjoy: episode accounting, limits, video, frameskip, multi-agent RNN resets, bad input,
and experiments trained by upstream sample-factory 2.1.1 (same average reward as upstream's own enjoy)."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import sample_factory.enjoy as enjoy_module
from sample_factory.enjoy import display_available, eval_render_mode
from sample_factory.envs.env_utils import register_env
from sample_factory.model.model_utils import get_rnn_size
from sample_factory.utils.attr_dict import AttrDict
from sample_factory.utils.utils import log
from sf_examples.enjoy_gym_env import main as enjoy_main

_spec = importlib.util.spec_from_file_location(
    "make_experiment", os.path.join(os.path.dirname(__file__), "data", "make_experiment.py")
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


@pytest.fixture(autouse=True)
def _restore_sdl_driver(monkeypatch):
    """enjoy sets SDL_VIDEODRIVER=dummy when there is no display; undo it after each test."""
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)


@pytest.fixture
def records():
    """Log records of the `sf` logger (it does not propagate, so caplog cannot see them)."""
    collected: list[logging.LogRecord] = []

    class _Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            collected.append(record)

    handler = _Handler(level=logging.DEBUG)
    log.addHandler(handler)
    yield collected
    log.removeHandler(handler)


def _episode_rewards(records: list[logging.LogRecord]) -> list[float]:
    return [float(r.args[2]) for r in records if r.msg.startswith("Episode finished")]


def _errors(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.ERROR]


def _tree(path: str) -> set[str]:
    out = set()
    for root, dirs, files in os.walk(path):
        out.update(os.path.join(root, n) for n in dirs + files)
    return out


def _argv(train_dir, name, *extra: str) -> list[str]:
    return ["--env=CartPole-v1", f"--experiment={name}", f"--train_dir={train_dir}", "--device=cpu", *extra]


# ------------------------------------------------------------------ experiments trained by upstream 2.1.1

# Measured with upstream's own enjoy (tests/data/upstream_2_1_1/measure_upstream_enjoy.py, torch 2.13, numpy 1.26,
# gymnasium 0.29, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1): seed 7, deterministic actions, 20 episodes.
UPSTREAM_AVG_REWARD = {"up_tiny": 61.9, "up_gru": 9.3}


@pytest.mark.parametrize("name", ["up_tiny", "up_gru"])
def test_upstream_experiment_same_reward_as_upstream_enjoy(tmp_path, monkeypatch, records, name):
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    helpers.copy_upstream_experiment(str(tmp_path), name)
    before = _tree(str(tmp_path))
    argv = _argv(tmp_path, name, "--no_render", "--eval_deterministic=True", "--max_num_episodes=20", "--seed=7")
    assert enjoy_main(argv) == 0
    rewards = _episode_rewards(records)
    assert len(rewards) == 20
    assert np.mean(rewards) == pytest.approx(UPSTREAM_AVG_REWARD[name], abs=1e-9)
    assert _tree(str(tmp_path)) == before  # evaluation without video writes nothing
    assert not _errors(records)


def test_upstream_checkpoint_needs_no_unsafe_load(monkeypatch):
    """The upstream file loads with weights_only=True semantics (torch.load would refuse unsafe pickles)."""
    from sample_factory.algo.learning.checkpoint import load_checkpoint

    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    path = os.path.join(helpers.UPSTREAM_DATA, "up_tiny", "checkpoint_p0", "checkpoint_000000021_21504.pth")
    ckpt = load_checkpoint(path)
    assert calls == [True]
    assert ckpt["train_step"] == 21 and ckpt["env_steps"] == 21504
    assert isinstance(ckpt["best_performance"], float)


# ------------------------------------------------------------------ episode accounting and limits


def test_enjoy_reports_episode_rewards_and_average(tmp_path, records):
    helpers.make_experiment(str(tmp_path), "exp")
    status, avg = enjoy_module.enjoy(helpers.register_gym_envs() or _cfg(tmp_path, "exp", "--max_num_episodes=3"))
    assert status == 0
    rewards = _episode_rewards(records)
    assert len(rewards) == 3
    assert all(r >= 1 for r in rewards)  # CartPole pays 1 per step
    assert avg == pytest.approx(sum(rewards) / 3)
    final = [r.getMessage() for r in records if r.msg.startswith("Avg episode reward")]
    assert len(final) == 1 and f"{avg:.3f}" in final[0]


def _cfg(train_dir, name, *extra: str):
    from sf_examples.train_gym_env import parse_args

    return parse_args(_argv(train_dir, name, "--no_render", *extra), evaluation=True)


def test_max_num_frames_stops_exactly(tmp_path, records):
    helpers.make_experiment(str(tmp_path), "exp")
    counted = []
    real = enjoy_module.compute_actions

    def spy(*args, **kwargs):
        counted.append(1)
        return real(*args, **kwargs)

    enjoy_module.compute_actions, saved = spy, enjoy_module.compute_actions
    try:
        status, _ = enjoy_module.enjoy(_cfg(tmp_path, "exp", "--max_num_frames=17"))
    finally:
        enjoy_module.compute_actions = saved
    assert status == 0
    assert len(counted) == 17


def test_eval_env_frameskip_repeats_actions(tmp_path, monkeypatch, records):
    helpers.make_experiment(str(tmp_path), "exp", extra=["--env_frameskip=4"])
    calls = []
    real = enjoy_module.compute_actions
    monkeypatch.setattr(enjoy_module, "compute_actions", lambda *a, **k: calls.append(1) or real(*a, **k))
    status, _ = enjoy_module.enjoy(_cfg(tmp_path, "exp", "--max_num_frames=12", "--eval_env_frameskip=2"))
    assert status == 0
    # 4 / 2 = each action is applied twice; an episode end cuts a repetition short, so at most 12 / 2 + episodes
    episodes = len(_episode_rewards(records))
    assert 6 <= len(calls) <= 6 + episodes

    records.clear()
    status, _ = enjoy_module.enjoy(_cfg(tmp_path, "exp", "--max_num_frames=12", "--eval_env_frameskip=3"))
    assert status == 1
    errors = _errors(records)
    assert len(errors) == 1 and "--eval_env_frameskip=3 must divide --env_frameskip=4" in errors[0]


def test_deterministic_actions_are_argmax(tmp_path, monkeypatch):
    cfg = helpers.make_experiment(str(tmp_path), "exp")
    from sample_factory.algo.utils.env_info import obtain_env_info

    env_info = obtain_env_info(cfg)
    model, _ = enjoy_module.load_policy(enjoy_module.load_eval_cfg(_cfg(tmp_path, "exp")), env_info)
    obs = {"obs": np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)}
    rnn = torch.zeros((64, get_rnn_size(cfg)))
    actions, _ = enjoy_module.compute_actions(model, obs, rnn, deterministic=True)
    with torch.no_grad():
        logits = model(model.normalize_obs({"obs": torch.from_numpy(obs["obs"])}), rnn)["action_logits"]
    np.testing.assert_array_equal(actions, logits.argmax(dim=1).numpy())


# ------------------------------------------------------------------ multi-agent env and recurrent state resets


class TwoAgentCounterEnv(gym.Env):
    """Two auto-resetting agents whose episodes last 3 and 5 steps; reward 1 per step."""

    def __init__(self) -> None:
        self.num_agents = 2
        self.is_multiagent = True
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.lengths = [3, 5]
        self.t = [0, 0]

    def _obs(self):
        return [np.full(4, 0.1 * (t + 1), np.float32) for t in self.t]

    def reset(self, seed=None, options=None):
        self.t = [0, 0]
        return self._obs(), [{}, {}]

    def step(self, actions):
        self.t = [t + 1 for t in self.t]
        done = [t >= n for t, n in zip(self.t, self.lengths)]
        self.t = [0 if d else t for t, d in zip(self.t, done)]
        return self._obs(), [1.0, 1.0], done, [False, False], [{}, {}]


def make_two_agent_counter_env(full_env_name, cfg=None, env_config=None, render_mode=None):
    return TwoAgentCounterEnv()


def test_multi_agent_rewards_and_rnn_reset_per_agent(tmp_path, monkeypatch, records):
    register_env("two_agent_counter", make_two_agent_counter_env)
    helpers.make_experiment(str(tmp_path), "ma", env="two_agent_counter", extra=["--use_rnn=True"])
    seen_states = []
    real = enjoy_module.compute_actions

    def spy(model, obs, rnn_states, deterministic, device="cpu"):
        seen_states.append(rnn_states.clone())
        return real(model, obs, rnn_states, deterministic, device)

    monkeypatch.setattr(enjoy_module, "compute_actions", spy)
    argv = ["--env=two_agent_counter", "--experiment=ma", f"--train_dir={tmp_path}", "--no_render"]
    from sf_examples.train_gym_env import parse_args

    status, avg = enjoy_module.enjoy(parse_args([*argv, "--max_num_frames=15"], evaluation=True))
    assert status == 0
    # agent 0 finishes at steps 3, 6, 9, 12, 15 (5 episodes of 3), agent 1 at 5, 10, 15 (3 episodes of 5)
    assert sorted(_episode_rewards(records)) == [3.0] * 5 + [5.0] * 3
    assert avg == pytest.approx((5 * 3 + 3 * 5) / 8)
    # the state fed at step t (0-based) is zero exactly for agents whose episode started there
    for t, states in enumerate(seen_states):
        assert torch.all(states[0] == 0) == (t % 3 == 0), t
        assert torch.all(states[1] == 0) == (t % 5 == 0), t


# ------------------------------------------------------------------ rendering and video


def test_no_display_falls_back_to_no_rendering(monkeypatch, records):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not display_available()
    assert eval_render_mode(AttrDict(save_video=False, no_render=False)) is None
    assert any("No display" in r.getMessage() for r in records if r.levelno == logging.WARNING)
    assert eval_render_mode(AttrDict(save_video=True, no_render=False)) == "rgb_array"
    assert eval_render_mode(AttrDict(save_video=False, no_render=True)) is None
    assert os.environ.get("SDL_VIDEODRIVER") == "dummy"  # off-screen pygame rendering without a display
    monkeypatch.setenv("DISPLAY", ":0")
    assert eval_render_mode(AttrDict(save_video=False, no_render=False)) == "human"


def test_human_rendering_without_display_still_evaluates(tmp_path, monkeypatch, records):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    helpers.make_experiment(str(tmp_path), "exp")
    from sf_examples.train_gym_env import parse_args

    status, avg = enjoy_module.enjoy(parse_args(_argv(tmp_path, "exp", "--max_num_episodes=1"), evaluation=True))
    assert status == 0 and avg >= 1


def _video_frames(path: str) -> tuple[int, float, str]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(path)
    meta = next(reader)
    n = sum(1 for _ in reader)
    return n, float(meta["fps"]), str(meta.get("codec", ""))


def test_save_video_one_episode(tmp_path, records):
    helpers.make_experiment(str(tmp_path), "exp")
    from sf_examples.train_gym_env import parse_args

    cfg = parse_args(_argv(tmp_path, "exp", "--save_video", "--video_frames=-1", "--seed=3"), evaluation=True)
    status, _ = enjoy_module.enjoy(cfg)
    assert status == 0
    rewards = _episode_rewards(records)
    assert len(rewards) == 1  # the video was the only limit: one episode, then stop
    path = tmp_path / "exp" / "replay.mp4"
    assert path.is_file()
    n, fps, codec = _video_frames(str(path))
    assert n == int(rewards[0])  # the reset frame + one per step, the terminal (post-reset) frame excluded
    assert fps == pytest.approx(30.0)
    assert "h264" in codec


def test_save_video_name_fps_and_frame_count(tmp_path):
    helpers.make_experiment(str(tmp_path), "exp")
    from sf_examples.train_gym_env import parse_args

    argv = _argv(tmp_path, "exp", "--save_video", "--video_frames=12", "--video_name=clip", "--fps=15")
    status, _ = enjoy_module.enjoy(parse_args(argv, evaluation=True))
    assert status == 0
    n, fps, _ = _video_frames(str(tmp_path / "exp" / "clip.mp4"))
    assert (n, fps) == (12, pytest.approx(15.0))


def test_video_opencv_fallback(tmp_path):
    from sample_factory.utils.video import save_video

    frames = [np.full((31, 41, 3), i * 10, np.uint8) for i in range(5)]  # odd sizes get padded
    path = save_video(frames, str(tmp_path / "v.mp4"), fps=10, backend="opencv")
    import cv2

    cap = cv2.VideoCapture(path)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert count == 5


# ------------------------------------------------------------------ bad input: one line, non-zero exit, nothing written


def _bad_input(tmp_path, records, argv) -> str:
    before = _tree(str(tmp_path))
    assert enjoy_main(argv) != 0
    assert _tree(str(tmp_path)) == before
    errors = _errors(records)
    assert len(errors) == 1 and "\n" not in errors[0], errors
    return errors[0]


def test_missing_experiment(tmp_path, records):
    msg = _bad_input(tmp_path, records, _argv(tmp_path / "nowhere", "nope", "--no_render"))
    assert "does not exist" in msg and "nope" in msg
    assert not (tmp_path / "nowhere").exists()


def test_experiment_without_checkpoints(tmp_path, records):
    helpers.make_experiment(str(tmp_path), "exp")
    for f in (tmp_path / "exp" / "checkpoint_p0").iterdir():
        f.unlink()
    msg = _bad_input(tmp_path, records, _argv(tmp_path, "exp", "--no_render"))
    assert "No checkpoint_*.pth checkpoint" in msg


def test_best_checkpoint_missing(tmp_path, records):
    helpers.make_experiment(str(tmp_path), "exp")
    msg = _bad_input(tmp_path, records, _argv(tmp_path, "exp", "--no_render", "--load_checkpoint_kind=best"))
    assert "No best_*.pth" in msg and "--load_checkpoint_kind=latest" in msg


def _only_checkpoint(tmp_path) -> str:
    (path,) = list((tmp_path / "exp" / "checkpoint_p0").iterdir())
    return str(path)


def test_truncated_checkpoint(tmp_path, records):
    helpers.make_experiment(str(tmp_path), "exp")
    path = _only_checkpoint(tmp_path)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    msg = _bad_input(tmp_path, records, _argv(tmp_path, "exp", "--no_render"))
    assert msg.startswith("Cannot load checkpoint") and path in msg


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "content, expected",
    [
        (["not", "a", "dict"], "expected a dict"),
        ({"train_step": 1}, "no 'model' state dict"),
        ({"model": {"some.other.weight": torch.zeros(3)}}, "does not match the model"),
        ({"model": _Evil()}, "not plain data"),
    ],
)
def test_foreign_checkpoint(tmp_path, records, content, expected):
    helpers.make_experiment(str(tmp_path), "exp")
    torch.save(content, _only_checkpoint(tmp_path))
    msg = _bad_input(tmp_path, records, _argv(tmp_path, "exp", "--no_render"))
    assert expected in msg


def test_checkpoint_of_another_architecture(tmp_path, records):
    helpers.make_experiment(str(tmp_path), "exp")
    helpers.make_experiment(str(tmp_path), "wide", extra=["--encoder_mlp_layers", "8"])
    src = _only_checkpoint(tmp_path)
    os.replace(str(next((tmp_path / "wide" / "checkpoint_p0").iterdir())), src)
    msg = _bad_input(tmp_path, records, _argv(tmp_path, "exp", "--no_render"))
    assert "does not match the model" in msg


def test_policy_index_out_of_range(tmp_path, records):
    helpers.make_experiment(str(tmp_path), "exp", extra=["--num_policies=2"])
    msg = _bad_input(tmp_path, records, _argv(tmp_path, "exp", "--no_render", "--policy_index=2"))
    assert "--policy_index=2 is out of range" in msg and "0..1" in msg
    records.clear()
    assert enjoy_main(_argv(tmp_path, "exp", "--no_render", "--policy_index=1", "--max_num_episodes=1")) == 0
    assert any("checkpoint_p1" in r.getMessage() for r in records)


def test_cli_bad_input_exit_code_and_single_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"}
    res = subprocess.run(
        [sys.executable, "-m", "sf_examples.enjoy_gym_env", *_argv(tmp_path, "missing", "--no_render")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 1
    out = (res.stdout + res.stderr).strip().splitlines()
    assert "Traceback" not in res.stdout + res.stderr
    assert len([line for line in out if "does not exist" in line]) == 1
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ resume of an upstream experiment (trains briefly)


@pytest.mark.slow
def test_upstream_experiment_resumes_with_our_train(tmp_path):
    helpers.copy_upstream_experiment(str(tmp_path), "up_tiny")
    argv = [
        "--env=CartPole-v1",
        "--experiment=up_tiny",
        f"--train_dir={tmp_path}",
        "--device=cpu",
        "--serial_mode=True",
        "--train_for_env_steps=22000",
    ]
    res = subprocess.run(
        [sys.executable, "-m", "sf_examples.train_gym_env", *argv], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "resumed from" in res.stdout and "train_step 21" in res.stdout
    names = sorted(os.listdir(tmp_path / "up_tiny" / "checkpoint_p0"))
    assert names[-1] > "checkpoint_000000021_21504.pth"
