"""Semantics of the wrappers in sample_factory/envs/env_wrappers.py, checked on tiny fake envs."""

from __future__ import annotations

import json
import os

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from sample_factory.envs.env_wrappers import (
    ClipRewardEnv,
    EpisodeCounterWrapper,
    EpisodicLifeEnv,
    FireResetEnv,
    FrameStack,
    MaxAndSkipEnv,
    NoopResetEnv,
    NumpyObsWrapper,
    PixelFormatChwWrapper,
    RecordingWrapper,
    ResizeGrayscaleWrapper,
    RewardScalingWrapper,
    TimeLimitWrapper,
)


class FakeAtari(gym.Env):
    """Frame t (t = steps since reset) has pixel (0,0)=t on even t, pixel (0,1)=t on odd t; reward t.
    Loses a life every `life_len` steps; the game is over when lives reach 0 or after `episode_len` steps."""

    def __init__(self, episode_len: int = 1000, lives: int = 0, life_len: int = 5, fire: bool = True, shape=(4, 4)):
        self.observation_space = spaces.Box(0, 255, shape=shape, dtype=np.uint8)
        self.action_space = spaces.Discrete(4)
        self.meanings = ["NOOP", "FIRE", "RIGHT", "LEFT"] if fire else ["NOOP", "RIGHT", "LEFT", "DOWN"]
        self.episode_len, self.start_lives, self.life_len = episode_len, lives, life_len
        self.actions: list[int] = []
        self.num_resets = 0
        self.t = 0
        self.lives = lives

    def get_action_meanings(self) -> list[str]:
        return self.meanings

    def _frame(self) -> np.ndarray:
        frame = np.zeros(self.observation_space.shape, dtype=np.uint8)
        frame[0, 0 if self.t % 2 == 0 else 1] = self.t % 256
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.lives = 0, self.start_lives
        self.num_resets += 1
        self.actions = []
        return self._frame(), {"lives": self.lives}

    def step(self, action):
        self.actions.append(int(action))
        self.t += 1
        if self.start_lives and self.t % self.life_len == 0:
            self.lives -= 1
        terminated = self.t >= self.episode_len or (self.start_lives > 0 and self.lives == 0)
        return self._frame(), float(self.t), terminated, False, {"lives": self.lives}


def test_max_and_skip_maxes_last_two_frames_and_sums_rewards():
    env = MaxAndSkipEnv(FakeAtari(episode_len=6), skip=4)
    env.reset()
    obs, rew, terminated, truncated, _ = env.step(2)
    assert env.unwrapped.actions == [2, 2, 2, 2]
    assert rew == 1 + 2 + 3 + 4
    assert obs[0, 0] == 4 and obs[0, 1] == 3  # max of frame 3 (odd -> pixel 1) and frame 4 (even -> pixel 0)
    assert not terminated
    obs, rew, terminated, _, _ = env.step(1)  # ends after 2 of 4 repeats: the last frame, unmaxed
    assert terminated and rew == 5 + 6
    assert obs[0, 0] == 6 and obs[0, 1] == 0


def test_noop_reset_takes_between_1_and_noop_max_noops():
    counts = set()
    for seed in range(20):
        env = NoopResetEnv(FakeAtari(), noop_max=30)
        env.reset(seed=seed)
        actions = env.unwrapped.actions
        assert 1 <= len(actions) <= 30 and set(actions) == {0}
        counts.add(len(actions))
    assert len(counts) > 3  # random, not constant
    env = NoopResetEnv(FakeAtari(), noop_max=1)
    env.reset(seed=0)
    assert env.unwrapped.actions == [0]


def test_noop_reset_is_reproducible_with_a_seed():
    a, b = NoopResetEnv(FakeAtari()), NoopResetEnv(FakeAtari())
    a.reset(seed=7)
    b.reset(seed=7)
    assert a.unwrapped.actions == b.unwrapped.actions


def test_noop_reset_rejects_non_noop_action_zero():
    fake = FakeAtari()
    fake.meanings = ["FIRE", "NOOP", "UP", "DOWN"]
    with pytest.raises(ValueError):
        NoopResetEnv(fake)


def test_episodic_life_ends_episode_on_life_loss_but_continues_the_game():
    fake = FakeAtari(lives=3, life_len=5)
    env = EpisodicLifeEnv(fake)
    env.reset()
    assert fake.num_resets == 1
    for step in range(1, 6):
        _, _, terminated, _, info = env.step(2)
        assert terminated == (step == 5)
    assert info["lives"] == 2
    env.reset()  # not a real game over: one no-op step, no emulator reset
    assert fake.num_resets == 1 and fake.t == 6 and fake.actions[-1] == 0
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(2)
    assert info["lives"] == 1 and fake.num_resets == 1
    env.reset()
    while not terminated or info["lives"] > 0:
        _, _, terminated, _, info = env.step(2)
    assert info["lives"] == 0  # real game over
    env.reset()
    assert fake.num_resets == 2 and fake.t == 0


def test_fire_reset_presses_fire_then_action_2():
    fake = FakeAtari()
    env = FireResetEnv(fake)
    env.reset()
    assert fake.actions == [1, 2]
    with pytest.raises(ValueError):
        FireResetEnv(FakeAtari(fire=False))


def test_clip_reward_and_reward_scaling():
    assert [ClipRewardEnv(FakeAtari()).reward(r) for r in (5.0, -3.0, 0.0, 0.2)] == [1.0, -1.0, 0.0, 1.0]
    assert RewardScalingWrapper(FakeAtari(), 0.1).reward(5.0) == pytest.approx(0.5)


def test_resize_grayscale_to_84x84():
    env = ResizeGrayscaleWrapper(FakeAtari(shape=(210, 160, 3)))
    assert env.observation_space.shape == (84, 84) and env.observation_space.dtype == np.uint8
    rgb = np.zeros((210, 160, 3), dtype=np.uint8)
    rgb[:] = (100, 150, 200)
    gray = env.observation(rgb)
    assert gray.shape == (84, 84) and gray.dtype == np.uint8
    assert abs(int(gray[40, 40]) - round(0.299 * 100 + 0.587 * 150 + 0.114 * 200)) <= 1
    already_gray = np.full((210, 160), 77, dtype=np.uint8)
    assert (env.observation(already_gray) == 77).all()


def test_frame_stack_shifts_frames_and_does_not_alias():
    env = FrameStack(FakeAtari(), 4)
    assert env.observation_space.shape == (4, 4, 4)
    obs0, _ = env.reset()
    assert obs0.shape == (4, 4, 4) and obs0.dtype == np.uint8
    assert (obs0 == obs0[0]).all()  # filled with the first frame
    obs1, *_ = env.step(0)
    obs2, *_ = env.step(0)
    assert obs2[-1, 0, 0] == 2 and obs2[-2, 0, 1] == 1 and (obs2[:2] == obs0[0]).all()
    assert obs1[-1, 0, 1] == 1 and obs1[-1, 0, 0] == 0  # unchanged by the later step


def test_pixel_format_chw_and_numpy_obs():
    env = PixelFormatChwWrapper(FakeAtari(shape=(5, 6, 3)))
    assert env.observation_space.shape == (3, 5, 6)
    hwc = np.arange(90, dtype=np.uint8).reshape(5, 6, 3)
    chw = env.observation(hwc)
    assert chw.shape == (3, 5, 6) and chw[2, 4, 5] == hwc[4, 5, 2]
    with pytest.raises(ValueError):
        PixelFormatChwWrapper(FakeAtari(shape=(4, 4)))
    assert isinstance(NumpyObsWrapper(FakeAtari()).observation([1, 2]), np.ndarray)


def test_episode_counter_numbers_finished_episodes():
    env = EpisodeCounterWrapper(FakeAtari(episode_len=2))
    numbers = []
    for _ in range(3):
        env.reset()
        env.step(0)
        _, _, terminated, _, info = env.step(0)
        assert terminated
        numbers.append(info["episode_extra_stats"]["episode_number"])
    assert numbers == [0, 1, 2]


class FakeMultiAgent(gym.Env):
    num_agents = 2
    is_multiagent = True
    observation_space = spaces.Box(0, 1, (1,))
    action_space = spaces.Discrete(2)

    def __init__(self):
        self.t = 0

    def reset(self, *, seed=None, options=None):
        return [np.zeros(1)] * 2, [{}, {}]

    def step(self, actions):
        self.t += 1
        terminated = [self.t % 2 == 0, self.t % 3 == 0]  # agent 0 ends every 2 steps, agent 1 every 3
        return [np.zeros(1)] * 2, [0.0, 0.0], terminated, [False, False], [{}, {}]


def test_episode_counter_multi_agent():
    env = EpisodeCounterWrapper(FakeMultiAgent())
    assert env.num_agents == 2
    env.reset()
    ends = []
    for _ in range(6):
        *_, infos = env.step([0, 0])
        ends.append([info.get("episode_extra_stats", {}).get("episode_number") for info in infos])
    assert ends == [[None, None], [0, None], [None, 0], [1, None], [None, None], [2, 1]]


def test_time_limit_truncates():
    env = TimeLimitWrapper(FakeAtari(), limit=3)
    env.reset()
    flags = [env.step(0)[3] for _ in range(3)]
    assert flags == [False, False, True]
    env.reset()
    assert not env.step(0)[3]


def test_recording_wrapper_saves_frames(tmp_path):
    env = RecordingWrapper(FakeAtari(episode_len=3, shape=(8, 8, 3)), str(tmp_path), player_id=1)
    env.reset()
    terminated = False
    while not terminated:
        _, _, terminated, _, _ = env.step(2)
    ep_dir = tmp_path / "ep_000_p1"
    pngs = sorted(p for p in os.listdir(ep_dir) if p.endswith(".png"))
    assert len(pngs) == 4  # reset frame + 3 steps
    assert json.loads((ep_dir / "actions.json").read_text()) == [2, 2, 2]
    assert json.loads((ep_dir / "rewards.json").read_text()) == [1.0, 2.0, 3.0]
    env.reset()
    assert (tmp_path / "ep_001_p1").is_dir()
