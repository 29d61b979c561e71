"""Reusable gymnasium 1.x wrappers: the Atari preprocessing stack (no-op reset, max-and-skip, episodic life, fire
reset, reward clipping, 84x84 grayscale, frame stack) and generic helpers (pixel format, numpy obs, recording,
episode counter, time limit, reward scaling). Our own implementations, written against the gymnasium 1.x API."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sample_factory.utils.utils import ensure_dir_exists, log

StepResult = tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]


def _lives(env: gym.Env, info: dict[str, Any]) -> int:
    """Lives left: from `info["lives"]` (ale-py puts it there), else from the ALE interface."""
    if "lives" in info:
        return int(info["lives"])
    ale = getattr(env.unwrapped, "ale", None)
    return int(ale.lives()) if ale is not None else 0


def _action_meanings(env: gym.Env) -> list[str]:
    getter = getattr(env.unwrapped, "get_action_meanings", None)
    return list(getter()) if getter is not None else []


class NoopResetEnv(gym.Wrapper):
    """On reset, take a random number (1..noop_max) of no-op actions so episodes start from varied states."""

    def __init__(self, env: gym.Env, noop_max: int = 30, noop_action: int = 0) -> None:
        super().__init__(env)
        self.noop_max = noop_max
        self.noop_action = noop_action
        meanings = _action_meanings(env)
        if meanings and meanings[noop_action] != "NOOP":
            raise ValueError(f"NoopResetEnv: action {noop_action} is {meanings[noop_action]!r}, not NOOP")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        num_noops = int(self.np_random.integers(1, self.noop_max + 1)) if self.noop_max > 0 else 0
        for _ in range(num_noops):
            obs, _, terminated, truncated, info = self.env.step(self.noop_action)
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        return obs, info


class MaxAndSkipEnv(gym.Wrapper):
    """Repeat each action `skip` times, sum the rewards, and return the pixel-wise max of the last two frames
    (Atari sprites flicker between frames). Stops early when the episode ends."""

    def __init__(self, env: gym.Env, skip: int = 4) -> None:
        super().__init__(env)
        if skip < 1:
            raise ValueError(f"MaxAndSkipEnv: skip must be >= 1, got {skip}")
        self.skip = skip
        space = env.observation_space
        assert isinstance(space, spaces.Box), f"MaxAndSkipEnv needs a Box observation space, got {space}"
        self._obs_buffer = np.zeros((2, *space.shape), dtype=space.dtype)

    def step(self, action: Any) -> StepResult:
        total_reward = 0.0
        terminated = truncated = False
        info: dict[str, Any] = {}
        obs = None
        for i in range(self.skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total_reward += float(reward)
            if i == self.skip - 2:
                self._obs_buffer[0] = obs
            elif i == self.skip - 1:
                self._obs_buffer[1] = obs
            if terminated or truncated:
                break
        # ended early (or skip == 1): there is no pair of last frames to max over, return the last one
        max_frame = self._obs_buffer.max(axis=0) if (self.skip > 1 and i == self.skip - 1) else obs
        return max_frame, total_reward, terminated, truncated, info


class EpisodicLifeEnv(gym.Wrapper):
    """Report a life loss as the end of an episode (value bootstrapping stops there), but only reset the game
    when it is really over; after a life loss `reset()` takes one no-op step instead."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.was_real_done = True

    def step(self, action: Any) -> StepResult:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.was_real_done = bool(terminated or truncated)
        lives = _lives(self.env, info)
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if self.was_real_done or seed is not None:
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        self.was_real_done = False
        self.lives = _lives(self.env, info)
        return obs, info


class FireResetEnv(gym.Wrapper):
    """Press FIRE (action 1) and then action 2 after each reset: games such as Breakout wait for it to start."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        meanings = _action_meanings(env)
        if meanings and (len(meanings) < 3 or meanings[1] != "FIRE"):
            raise ValueError(f"FireResetEnv needs FIRE as action 1 and >= 3 actions, got {meanings}")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self.env.reset(seed=seed, options=options)
        obs: Any = None
        info: dict[str, Any] = {}
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        return obs, info


class ClipRewardEnv(gym.RewardWrapper):
    """Replace the reward by its sign (-1, 0, +1)."""

    def reward(self, reward: SupportsFloat) -> float:
        return float(np.sign(float(reward)))


class ResizeGrayscaleWrapper(gym.ObservationWrapper):
    """Convert an RGB [H,W,3] (or already gray [H,W]) frame to a [height,width] uint8 grayscale frame (cv2)."""

    def __init__(self, env: gym.Env, width: int = 84, height: int = 84) -> None:
        super().__init__(env)
        import cv2

        self._cv2 = cv2
        self.width, self.height = width, height
        self.observation_space = spaces.Box(0, 255, shape=(height, width), dtype=np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        frame = observation
        if frame.ndim == 3 and frame.shape[-1] == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        elif frame.ndim == 3 and frame.shape[-1] == 1:
            frame = frame[..., 0]
        return cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)


class FrameStack(gym.Wrapper):
    """Stack the last `k` observations along a new first axis: [H,W] frames become a [k,H,W] numpy array.
    After a reset the stack is filled with copies of the first frame."""

    def __init__(self, env: gym.Env, k: int) -> None:
        super().__init__(env)
        space = env.observation_space
        assert isinstance(space, spaces.Box), f"FrameStack needs a Box observation space, got {space}"
        self.k = k
        low = np.repeat(space.low[np.newaxis], k, axis=0)
        high = np.repeat(space.high[np.newaxis], k, axis=0)
        self.observation_space = spaces.Box(low=low, high=high, dtype=space.dtype)
        self._frames = np.zeros((k, *space.shape), dtype=space.dtype)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._frames[:] = obs
        return self._frames.copy(), info

    def step(self, action: Any) -> StepResult:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._frames[:-1] = self._frames[1:]
        self._frames[-1] = obs
        return self._frames.copy(), reward, terminated, truncated, info


class PixelFormatChwWrapper(gym.ObservationWrapper):
    """Transpose image observations from HWC (what most envs give) to CHW (what torch convolutions expect)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        img_space: Any
        if isinstance(space, spaces.Dict):
            self._key: str | None = "obs"
            img_space = space.spaces["obs"]
        else:
            self._key = None
            img_space = space
        if not isinstance(img_space, spaces.Box) or len(img_space.shape) != 3:
            raise ValueError(f"PixelFormatChwWrapper needs a 3-D Box observation, got {img_space}")
        h, w, c = img_space.shape
        new_space = spaces.Box(0, 255, shape=(c, h, w), dtype=img_space.dtype)
        if self._key is None:
            self.observation_space = new_space
        else:
            self.observation_space = spaces.Dict({**space.spaces, "obs": new_space})  # type: ignore[attr-defined]

    def observation(self, observation: Any) -> Any:
        if self._key is None:
            return np.transpose(observation, (2, 0, 1))
        return {**observation, "obs": np.transpose(observation["obs"], (2, 0, 1))}


class NumpyObsWrapper(gym.ObservationWrapper):
    """Turn lazy or list observations into numpy arrays."""

    def observation(self, observation: Any) -> np.ndarray:
        return np.asarray(observation)


class EpisodeCounterWrapper(gym.Wrapper):
    """At each episode end add `info["episode_extra_stats"]["episode_number"]`: the 0-based index of the episode
    that just ended on this env (fast eval uses it to keep only the first episodes of every env).
    Works for single-agent envs and for multi-agent envs that return per-agent lists."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.num_agents = getattr(env, "num_agents", 1)
        self.is_multiagent = getattr(env, "is_multiagent", False)
        self.episode_count = np.zeros(max(1, self.num_agents), dtype=np.int64)

    def step(self, action: Any) -> StepResult:
        obs, reward, terminated, truncated, info = self.env.step(action)
        infos: Any = info
        if np.ndim(terminated) == 0:
            if terminated or truncated:
                self._mark(info, 0)
        else:
            done = np.logical_or(terminated, truncated)
            if np.any(done):
                if not infos:
                    infos = [{} for _ in range(len(done))]
                for agent_idx in np.nonzero(done)[0]:
                    self._mark(infos[int(agent_idx)], int(agent_idx))
        return obs, reward, terminated, truncated, infos

    def _mark(self, info: dict[str, Any], agent_idx: int) -> None:
        extra = dict(info.get("episode_extra_stats", {}))
        extra["episode_number"] = int(self.episode_count[agent_idx])
        info["episode_extra_stats"] = extra
        self.episode_count[agent_idx] += 1


class TimeLimitWrapper(gym.Wrapper):
    """Truncate episodes after `limit` steps (+ a random 0..random_variation_steps per episode)."""

    def __init__(self, env: gym.Env, limit: int, random_variation_steps: int = 0) -> None:
        super().__init__(env)
        self.base_limit = limit
        self.random_variation_steps = random_variation_steps
        self.limit = limit
        self.num_steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.num_steps = 0
        extra = int(self.np_random.integers(0, self.random_variation_steps + 1)) if self.random_variation_steps else 0
        self.limit = self.base_limit + extra
        return obs, info

    def step(self, action: Any) -> StepResult:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.num_steps += 1
        if self.num_steps >= self.limit and not terminated:
            truncated = True
        return obs, reward, terminated, truncated, info


class RewardScalingWrapper(gym.RewardWrapper):
    """Multiply every reward by `scale`."""

    def __init__(self, env: gym.Env, scale: float) -> None:
        super().__init__(env)
        self.scale = scale

    def reward(self, reward: SupportsFloat) -> float:
        return float(reward) * self.scale


class RecordingWrapper(gym.Wrapper):
    """Save every observation frame as a PNG under `<record_to>/ep_<NNN>_p<player_id>/`, plus `actions.json` and
    `rewards.json` for the episode. Image observations only (HWC, CHW or 2-D gray)."""

    def __init__(self, env: gym.Env, record_to: str, player_id: int = 0) -> None:
        super().__init__(env)
        import cv2

        self._cv2 = cv2
        self.record_to = record_to
        self.player_id = player_id
        self.episode_id = -1
        self.episode_dir: str | None = None
        self._frame_id = 0
        self._actions: list[Any] = []
        self._rewards: list[float] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self._finish_episode()
        obs, info = self.env.reset(seed=seed, options=options)
        self.episode_id += 1
        self.episode_dir = ensure_dir_exists(
            os.path.join(self.record_to, f"ep_{self.episode_id:03d}_p{self.player_id}")
        )
        self._frame_id = 0
        self._actions, self._rewards = [], []
        self._save_frame(obs)
        return obs, info

    def step(self, action: Any) -> StepResult:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._actions.append(np.asarray(action).tolist())
        self._rewards.append(float(reward))
        self._save_frame(obs)
        if terminated or truncated:
            self._finish_episode()
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        self._finish_episode()
        super().close()

    def _save_frame(self, obs: Any) -> None:
        if self.episode_dir is None:
            return
        frame = np.asarray(obs["obs"] if isinstance(obs, dict) else obs)
        if frame.ndim == 3 and frame.shape[0] in (1, 3, 4) and frame.shape[-1] not in (1, 3, 4):
            frame = frame[-1] if frame.shape[0] in (1, 4) else np.transpose(frame, (1, 2, 0))  # CHW / stacked
        if frame.ndim == 3 and frame.shape[-1] == 3:
            frame = self._cv2.cvtColor(frame, self._cv2.COLOR_RGB2BGR)
        path = os.path.join(self.episode_dir, f"{self._frame_id:05d}.png")
        self._cv2.imwrite(path, frame.astype(np.uint8))
        self._frame_id += 1

    def _finish_episode(self) -> None:
        if self.episode_dir is None:
            return
        with open(os.path.join(self.episode_dir, "actions.json"), "w") as f:
            json.dump(self._actions, f)
        with open(os.path.join(self.episode_dir, "rewards.json"), "w") as f:
            json.dump(self._rewards, f)
        log.debug("Recorded %d frames to %s", self._frame_id, self.episode_dir)
        self.episode_dir = None


def has_action(env: gym.Env, meaning: str) -> bool:
    """True when the (ALE) env has an action with this meaning, e.g. "FIRE"."""
    return meaning in _action_meanings(env)


def wrap_all(env: gym.Env, wrappers: Sequence[Any]) -> gym.Env:
    """Apply wrapper constructors (callables taking the env) in order, innermost first."""
    for wrapper in wrappers:
        env = wrapper(env)
    return env
