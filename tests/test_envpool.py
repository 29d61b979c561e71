"""EnvPool integration: the batched-env wrapper (same-step auto-reset, true episode scores) on a fake pool and on
real EnvPool simulators, env creation through the registry, defaults, `--help`, and (slow) a short CLI run."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from gymnasium import spaces

from sample_factory.utils.attr_dict import AttrDict
from sample_factory.utils.utils import is_module_available
from sf_examples.envpool.envpool_wrappers import EnvPoolBatchedEnv

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_ENVPOOL = is_module_available("envpool")
HAS_RUNNER = is_module_available("sample_factory.train") and is_module_available("sample_factory.enjoy")
needs_envpool = pytest.mark.skipif(not HAS_ENVPOOL, reason="envpool is not installed (pip install envpool==1.2.5)")


class FakePool:
    """Mimics EnvPool's gymnasium API with next-step auto-reset. Env i loses a life every 3 steps and the game is
    over after 2 lives; raw reward is 10 per step, the returned (clipped) one 1. Obs = [episode_index, t]."""

    def __init__(self, num_envs: int = 3):
        self.config = {"num_envs": num_envs}
        self.observation_space = spaces.Box(0, 1000, (2,), dtype=np.float64)
        self.action_space = spaces.Discrete(4)
        self.t = np.zeros(num_envs, dtype=np.int64)  # steps in the current life
        self.lives = np.full(num_envs, 2)
        self.games = np.zeros(num_envs, dtype=np.int64)
        self.pending_reset = np.zeros(num_envs, dtype=bool)
        self.calls: list[tuple] = []

    def _obs(self, ids):
        return np.stack([self.games[ids] * 10 + self.lives[ids], self.t[ids]], axis=1).astype(np.float64)

    def reset(self, seed=None):
        ids = np.arange(self.config["num_envs"])
        self.t[:], self.lives[:] = 0, 2
        return self._obs(ids), {"env_id": ids}

    def step(self, actions, env_id=None):
        ids = np.arange(self.config["num_envs"]) if env_id is None else np.asarray(env_id)
        self.calls.append((ids.tolist(), np.asarray(actions).tolist()))
        n = len(ids)
        rew, raw, term, real = np.zeros(n), np.zeros(n), np.zeros(n, bool), np.zeros(n, bool)
        for k, i in enumerate(ids):
            if self.pending_reset[i]:  # EnvPool's auto-reset step: action ignored, reward 0
                self.pending_reset[i] = False
                self.t[i] = 0
                if self.lives[i] == 0:
                    self.lives[i], self.games[i] = 2, self.games[i] + 1
                continue
            self.t[i] += 1
            rew[k], raw[k] = 1.0, 10.0
            if self.t[i] == 3:
                self.lives[i] -= 1
                term[k], real[k] = True, self.lives[i] == 0
                self.pending_reset[i] = True
        info = {"env_id": ids, "reward": raw, "terminated": real.astype(np.int32)}
        return self._obs(ids), rew, term, np.zeros(n, bool), info


def test_fake_pool_same_step_reset_and_true_episode_scores():
    pool = FakePool(num_envs=3)
    env = EnvPoolBatchedEnv(
        pool, frameskip=4, real_done_key="terminated", raw_reward_key="reward", obs_dtype=np.float32
    )
    assert env.num_agents == 3 and env.is_multiagent
    assert env.observation_space.dtype == np.float32 and env.action_space == spaces.Discrete(4)
    obs, infos = env.reset()
    assert obs.shape == (3, 2) and obs.dtype == np.float32 and infos == []

    for _ in range(2):
        obs, rew, terminated, truncated, infos = env.step(np.array([1, 2, 3]))
        assert rew.tolist() == [1.0, 1.0, 1.0] and not terminated.any() and infos == []
    obs, rew, terminated, truncated, infos = env.step([1, 2, 3])  # life lost everywhere: done, not a game over
    assert terminated.all() and infos == []
    assert obs.tolist() == [[1, 0]] * 3  # already the first obs of the next life (lives=1, t=0)
    assert pool.calls[-1] == ([0, 1, 2], [0, 0, 0])  # the pending auto-reset step was run at once
    for _ in range(2):
        env.step([0, 0, 0])
    obs, rew, terminated, truncated, infos = env.step([0, 0, 0])  # second life lost: the game is over
    assert terminated.all() and len(infos) == 3
    for info in infos:
        assert info["episode"] == {"r": 60.0, "l": 6 * 4}  # raw (unclipped) reward, length in frames
    assert obs.tolist() == [[12, 0]] * 3  # next game (games=1 -> 10 + lives 2), t=0
    obs, rew, terminated, truncated, infos = env.step([0, 0, 0])
    assert rew.tolist() == [1.0, 1.0, 1.0] and obs[:, 1].tolist() == [1, 1, 1]  # the action was not swallowed


def test_fake_pool_only_finished_envs_are_reset():
    pool = FakePool(num_envs=2)
    env = EnvPoolBatchedEnv(pool)
    env.reset()
    env.step([0, 0])
    pool.t[1] = 0  # env 1 runs one step behind
    env.step([0, 0])
    obs, _, terminated, _, infos = env.step([0, 0])
    assert terminated.tolist() == [True, False]
    assert pool.calls[-1][0] == [0]  # auto-reset step only for env 0
    assert obs[1, 1] == 2  # env 1's obs untouched
    # without real_done_key every done is an episode end
    assert infos[0]["episode"] == {"r": 3.0, "l": 3} and infos[1] == {}
    obs, _, terminated, _, infos = env.step([0, 0])
    assert terminated.tolist() == [False, True] and infos[1]["episode"]["l"] == 4 and infos[0] == {}


def _cfg(**kw) -> AttrDict:
    base = {"env_agents": 4, "envpool_num_threads": 2, "envpool_thread_affinity_offset": -1, "episode_counter": False}
    return AttrDict({**base, "env_frameskip": 4, "env_framestack": 4, **kw})


@needs_envpool
def test_envpool_pong_through_registry():
    from sample_factory.envs.create_env import create_env
    from sf_examples.envpool.atari.train_envpool_atari import register_envpool_atari_components

    register_envpool_atari_components()
    env = create_env("atari_pong", _cfg(), AttrDict(worker_index=0, vector_index=0, env_id=0), None)
    assert env.num_agents == 4 and env.is_multiagent
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    assert env.action_space == spaces.Discrete(6)
    obs, _ = env.reset()
    assert obs.shape == (4, 4, 84, 84) and obs.dtype == np.uint8
    for _ in range(20):
        obs, rew, terminated, truncated, infos = env.step(np.random.randint(0, 6, size=4))
        assert obs.shape == (4, 4, 84, 84) and rew.shape == (4,) and terminated.shape == (4,)
        assert set(np.unique(rew)) <= {-1.0, 0.0, 1.0}
    env.close()


@needs_envpool
def test_envpool_breakout_keeps_lives_after_life_loss():
    """A life-loss done must continue the game (EnvPool's own reset), not restart it."""
    from sf_examples.envpool.atari.envpool_atari_utils import make_envpool_atari_env

    env = make_envpool_atari_env("atari_breakout", _cfg(env_agents=1, envpool_num_threads=1), None)
    env.reset()
    lives_seen = []
    for _ in range(400):
        _, _, terminated, _, infos = env.step([0])
        if terminated[0]:  # the next step is a normal step of the same game, one life less
            lives_seen.append(int(env.env.step(np.zeros(1, np.int32))[4]["lives"][0]))
            if len(lives_seen) == 2:
                break
    assert lives_seen == [4, 3]


@needs_envpool
def test_envpool_cartpole_reset_obs_returned_at_done():
    import envpool

    env = EnvPoolBatchedEnv(envpool.make("CartPole-v1", env_type="gymnasium", num_envs=2, seed=0))
    env.reset()
    lengths = []
    for _ in range(60):
        obs, rew, terminated, truncated, infos = env.step(np.ones(2))  # always push right: falls in ~10 steps
        if terminated.any():
            assert (np.abs(obs[terminated]) < 0.06).all()  # a fresh start, not the fallen pole
            lengths += [info["episode"]["l"] for info in infos if "episode" in info]
    assert lengths and all(5 <= n <= 20 for n in lengths)


@needs_envpool
def test_envpool_mujoco_hopper_through_registry():
    pytest.importorskip("mujoco")
    from sample_factory.envs.create_env import create_env
    from sf_examples.envpool.mujoco.train_envpool_mujoco import register_envpool_mujoco_components

    register_envpool_mujoco_components()
    env = create_env("mujoco_hopper", _cfg(env_agents=3), AttrDict(worker_index=0, vector_index=0, env_id=0), None)
    assert env.num_agents == 3 and env.observation_space.shape == (11,) and env.observation_space.dtype == np.float32
    assert env.action_space.shape == (3,) and env.action_space.dtype == np.float32
    obs, _ = env.reset()
    assert obs.shape == (3, 11) and obs.dtype == np.float32
    obs, rew, *_ = env.step(np.random.uniform(-1, 1, (3, 3)))
    assert obs.shape == (3, 11) and rew.dtype == np.float32


def test_envpool_defaults():
    from sf_examples.envpool.atari.envpool_atari_params import ENVPOOL_ATARI_DEFAULTS
    from sf_examples.envpool.mujoco.envpool_mujoco_params import ENV_CONFIGS, ENVPOOL_MUJOCO_DEFAULTS

    a = ENVPOOL_ATARI_DEFAULTS
    assert (a["num_workers"], a["env_agents"], a["batched_sampling"], a["async_rl"]) == (4, 64, True, True)
    assert not a["normalize_input"] and not a["normalize_returns"] and a["lr_schedule"] == "linear_decay"
    m = ENVPOOL_MUJOCO_DEFAULTS
    assert m["batched_sampling"] and m["serial_mode"] and m["lr_schedule"] == "kl_adaptive_epoch"
    assert m["encoder_mlp_layers"] == [256, 128, 64] and (m["num_epochs"], m["num_batches_per_epoch"]) == (4, 2)
    assert set(ENV_CONFIGS) == {"mujoco_ant", "mujoco_halfcheetah", "mujoco_humanoid", "mujoco_hopper", "mujoco_walker"}


@pytest.mark.parametrize(
    "module,env,expected",
    [
        ("sf_examples.envpool.atari.train_envpool_atari", "atari_pong", "(default: 64)"),
        ("sf_examples.envpool.mujoco.train_envpool_mujoco", "mujoco_ant", "(default: kl_adaptive_epoch)"),
    ],
)
def test_help_lists_envpool_params(module, env, expected):
    out = subprocess.run(
        [sys.executable, "-m", module, f"--env={env}", "--help"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for arg in ("--envpool_num_threads", "--envpool_thread_affinity_offset", "--env_agents"):
        assert arg in text
    assert expected in text


@needs_envpool
@pytest.mark.slow
@pytest.mark.xfail(not HAS_RUNNER, reason="needs runner (sample_factory.train / enjoy)", strict=False)
def test_cli_train_then_enjoy(tmp_path):
    common = ["--env=atari_pong", "--experiment=envpool_cli", f"--train_dir={tmp_path}", "--device=cpu"]
    run = [sys.executable, "-m"]
    out = subprocess.run(
        [
            *run,
            "sf_examples.envpool.atari.train_envpool_atari",
            *common,
            "--num_workers=1",
            "--env_agents=8",
            "--envpool_num_threads=2",
            "--batch_size=256",
            "--train_for_env_steps=8000",
            "--serial_mode=True",
            "--async_rl=False",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / "envpool_cli" / "config.json").is_file()
    enjoy = [*run, "sf_examples.envpool.atari.enjoy_envpool_atari", *common, "--env_agents=1"]
    out = subprocess.run(
        [*enjoy, "--no_render", "--max_num_frames=400"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_episode_counter_wraps_the_batched_env():
    from sample_factory.envs.env_wrappers import EpisodeCounterWrapper

    env = EpisodeCounterWrapper(EnvPoolBatchedEnv(FakePool(num_envs=2)))
    assert env.num_agents == 2 and env.is_multiagent
    env.reset()
    for _ in range(2):
        *_, infos = env.step([0, 0])
        assert infos == []
    *_, infos = env.step([0, 0])
    assert [info["episode_extra_stats"]["episode_number"] for info in infos] == [0, 0]
