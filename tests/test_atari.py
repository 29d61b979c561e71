"""Atari integration (ale-py 0.12): env names, env creation through the registry, the wrapper stack on real games,
the tuned defaults and `--help`, and (slow) a short command-line training run followed by enjoy."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ale_py", reason="the atari extra (ale-py) is not installed")
pytest.importorskip("cv2", reason="the atari extra (opencv-python-headless) is not installed")

import gymnasium as gym  # noqa: E402

from sample_factory.envs.create_env import create_env  # noqa: E402
from sample_factory.utils.attr_dict import AttrDict  # noqa: E402
from sample_factory.utils.utils import is_module_available  # noqa: E402
from sf_examples.atari.atari_params import ATARI_DEFAULTS  # noqa: E402
from sf_examples.atari.atari_utils import ATARI_ENVS, atari_env_by_name, register_ale_games  # noqa: E402
from sf_examples.atari.train_atari import register_atari_components  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_RUNNER = is_module_available("sample_factory.train") and is_module_available("sample_factory.enjoy")

DOCUMENTED_NAMES = (
    "alien amidar assault asterix asteroid atlantis bankheist battlezone beamrider berzerk bowling boxing breakout "
    "centipede choppercommand crazyclimber defender demonattack doubledunk enduro fishingderby freeway frostbite "
    "gopher gravitar hero icehockey jamesbond kangaroo krull kongfumaster montezuma mspacman namethisgame phoenix "
    "pitfall pong privateye qbert riverraid roadrunner robotank seaquest skiing solaris spaceinvaders stargunner "
    "surround tennis timepilot tutankham upndown venture videopinball wizardofwor yarsrevenge zaxxon"
).split()


def _cfg(**overrides) -> AttrDict:
    return AttrDict({"env_frameskip": 4, "env_framestack": 4, "episode_counter": False, **overrides})


def test_57_documented_names_map_to_registered_ale_games():
    assert len(DOCUMENTED_NAMES) == 57
    assert [spec.name for spec in ATARI_ENVS] == [f"atari_{n}" for n in DOCUMENTED_NAMES]
    register_ale_games()
    for spec in ATARI_ENVS:
        assert spec.ale_id in gym.registry, spec
    assert atari_env_by_name("atari_montezuma").timeout == 18_000
    assert atari_env_by_name("atari_pong").timeout == 100_000
    with pytest.raises(ValueError):
        atari_env_by_name("atari_nosuchgame")


def test_pong_through_registry_spaces_and_random_steps():
    register_atari_components()
    env = create_env("atari_pong", _cfg(), AttrDict(worker_index=0, vector_index=0, env_id=0), None)
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    assert env.action_space == gym.spaces.Discrete(6)
    obs, _ = env.reset()
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    for _ in range(30):
        obs, rew, terminated, truncated, _ = env.step(env.action_space.sample())
        assert obs.shape == (4, 84, 84) and rew in (-1.0, 0.0, 1.0)
    # NoFrameskip-v4 semantics: the emulator steps one frame per call, no sticky actions, minimal action set
    ale = env.unwrapped.ale
    assert env.unwrapped._frameskip == 1
    assert ale.getFloat("repeat_action_probability") == 0.0
    env.close()


def test_frameskip_and_framestack_come_from_cfg():
    register_atari_components()
    env = create_env("atari_pong", _cfg(env_frameskip=2, env_framestack=3), None, None)
    assert env.observation_space.shape == (3, 84, 84)
    env.reset(seed=0)
    before = env.unwrapped.ale.getEpisodeFrameNumber()
    env.step(0)
    assert env.unwrapped.ale.getEpisodeFrameNumber() - before == 2


def test_episode_counter_from_cfg():
    register_atari_components()
    env = create_env("atari_pong", _cfg(episode_counter=True), None, None)
    assert type(env).__name__ == "EpisodeCounterWrapper"


def test_same_env_config_gives_the_same_episode():
    register_atari_components()
    runs = []
    for _ in range(2):
        env = create_env("atari_pong", _cfg(), AttrDict(worker_index=1, vector_index=3, env_id=7), None)
        obs, _ = env.reset()
        frames = [obs]
        for t in range(60):
            frames.append(env.step(t % 6)[0])
        runs.append(np.stack(frames))
    assert np.array_equal(runs[0], runs[1])


def test_breakout_fire_reset_and_episodic_life():
    register_atari_components()
    env = create_env("atari_breakout", _cfg(), AttrDict(worker_index=0, vector_index=0, env_id=0), None)
    assert env.action_space.n == 4
    env.reset()
    assert env.unwrapped.ale.lives() == 5
    terminated, steps = False, 0
    while not terminated and steps < 2000:
        _, _, terminated, truncated, info = env.step(0)  # NOOP: the ball is missed, a life is lost
        steps += 1
    assert terminated and info["lives"] == 4 and "episode" not in info  # a life loss is not a game over
    frame_before = env.unwrapped.ale.getEpisodeFrameNumber()
    env.reset()
    assert env.unwrapped.ale.lives() == 4  # the game went on (no emulator reset) ...
    assert env.unwrapped.ale.getEpisodeFrameNumber() > frame_before  # ... and FIRE was pressed to relaunch


def test_atari_defaults_are_the_documented_ones():
    assert ATARI_DEFAULTS["lr_schedule"] == "linear_decay"
    assert ATARI_DEFAULTS["encoder_conv_architecture"] == "convnet_atari"
    assert (ATARI_DEFAULTS["env_frameskip"], ATARI_DEFAULTS["env_framestack"]) == (4, 4)
    assert ATARI_DEFAULTS["adam_eps"] == 1e-5 and ATARI_DEFAULTS["learning_rate"] == 2.5e-4
    assert (ATARI_DEFAULTS["rollout"], ATARI_DEFAULTS["batch_size"], ATARI_DEFAULTS["num_epochs"]) == (128, 256, 4)


def test_parse_atari_args_applies_defaults_and_cli_wins():
    from sf_examples.atari.train_atari import parse_atari_args

    cfg = parse_atari_args(["--env=atari_pong", "--num_workers=3"])
    assert cfg.lr_schedule == "linear_decay" and cfg.env_framestack == 4 and cfg.obs_scale == 255
    assert cfg.num_workers == 3


def test_help_shows_atari_defaults():
    out = subprocess.run(
        [sys.executable, "-m", "sf_examples.atari.train_atari", "--env=atari_pong", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "--env_framestack" in text and "--lr_schedule" in text
    assert "(default: linear_decay)" in text and "(default: convnet_atari)" in text


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.xfail(not HAS_RUNNER, reason="needs runner (sample_factory.train / enjoy)", strict=False)
def test_cli_train_then_enjoy(tmp_path):
    common = ["--env=atari_pong", "--experiment=atari_cli", f"--train_dir={tmp_path}", "--device=cpu"]
    out = _run(
        [
            "sf_examples.atari.train_atari",
            *common,
            "--num_workers=1",
            "--num_envs_per_worker=2",
            "--train_for_env_steps=2000",
            "--serial_mode=True",
        ],
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    exp_dir = tmp_path / "atari_cli"
    assert (exp_dir / "config.json").is_file()
    assert any(p.startswith("checkpoint_") for p in os.listdir(exp_dir / "checkpoint_p0"))

    out = _run(["sf_examples.atari.enjoy_atari", *common, "--no_render", "--max_num_frames=400"], timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    out = _run(
        ["sf_examples.atari.enjoy_atari", *common, "--save_video", "--video_frames=100", "--max_num_frames=100"],
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert any(p.endswith(".mp4") for p in os.listdir(exp_dir))
