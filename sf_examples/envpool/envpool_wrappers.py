"""`EnvPoolBatchedEnv`: one EnvPool batch of N simulators seen as one multi-agent env with N slots, auto-resetting
in the same step (Sample Factory's convention) and reporting true episode scores for finished episodes.

EnvPool resets a finished env on the *next* step (its action is ignored; reward 0). We trigger that reset step at
once for the finished envs only (`step(dummy, env_id=done_ids)`), so the obs returned with `done=True` is already
the first obs of the next episode. An explicit `reset(env_id)` would not do: with `episodic_life` it restarts the
whole game instead of continuing with the next life.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class EnvPoolBatchedEnv(gym.Env):
    """Batched-env interface consumed by the sampler.

    Attributes: `num_agents` (envs in the batch), `observation_space`/`action_space` (one env), `is_multiagent`.
    `reset(seed=None) -> (obs [N,...], infos)`, `step(actions [N,...]) -> (obs, rew [N], terminated [N],
    truncated [N], infos)`. `infos` is `[]` on steps where no episode really ended, else a list of N dicts; a slot
    whose episode really ended gets `info["episode"] = {"r": raw return, "l": length in frames}`.

    `real_done_key`: info key that marks the real end of an episode when `terminated` also fires on a life loss
    (Atari with episodic_life: "terminated"); None means every terminated/truncated is a real end.
    `raw_reward_key`: info key with the unclipped reward (Atari: "reward"); None means the returned reward.
    """

    is_multiagent = True

    def __init__(
        self,
        envpool_env: Any,
        frameskip: int = 1,
        real_done_key: str | None = None,
        raw_reward_key: str | None = None,
        obs_dtype: Any = None,
        render_mode: str | None = None,
    ) -> None:
        self.env = envpool_env
        self.num_agents = int(envpool_env.config["num_envs"])
        self.frameskip = frameskip
        self.real_done_key = real_done_key
        self.raw_reward_key = raw_reward_key
        self.render_mode = render_mode

        obs_space = envpool_env.observation_space
        self._obs_dtype = np.dtype(obs_dtype) if obs_dtype is not None else obs_space.dtype
        if self._obs_dtype != obs_space.dtype:
            obs_space = spaces.Box(
                obs_space.low.astype(self._obs_dtype), obs_space.high.astype(self._obs_dtype), dtype=self._obs_dtype
            )
        self.observation_space = obs_space
        act_space = envpool_env.action_space
        self._action_dtype = np.int32 if isinstance(act_space, spaces.Discrete) else act_space.dtype
        if isinstance(act_space, spaces.Box) and act_space.dtype != np.float32:
            act_space = spaces.Box(act_space.low.astype(np.float32), act_space.high.astype(np.float32))
        self.action_space = act_space

        action_shape = tuple(self.action_space.shape or ())
        self._dummy_actions = np.zeros((self.num_agents, *action_shape), dtype=self._action_dtype)
        self._returns = np.zeros(self.num_agents, dtype=np.float64)
        self._lengths = np.zeros(self.num_agents, dtype=np.int64)

    def reset(  # type: ignore[override]  # batched: arrays + a list of infos
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, list]:
        obs, _ = self.env.reset(seed=seed) if seed is not None else self.env.reset()
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return self._obs(obs), []

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list]:  # type: ignore[override]
        actions = np.asarray(actions, dtype=self._action_dtype).reshape(self._dummy_actions.shape)
        obs, rew, terminated, truncated, info = self.env.step(actions)
        obs = self._obs(obs)
        raw_rew = info[self.raw_reward_key] if self.raw_reward_key is not None else rew
        self._returns += raw_rew
        self._lengths += 1

        done = terminated | truncated
        infos: list[dict[str, Any]] = []
        if done.any():
            done_ids = np.nonzero(done)[0]
            real_done = done.copy()
            if self.real_done_key is not None:
                real_done = truncated | (terminated & info[self.real_done_key].astype(bool))
            self._reset_finished(obs, done_ids)
            if real_done.any():
                infos = [{} for _ in range(self.num_agents)]
                for i in np.nonzero(real_done)[0]:
                    infos[i]["episode"] = {"r": float(self._returns[i]), "l": int(self._lengths[i] * self.frameskip)}
                self._returns[real_done] = 0.0
                self._lengths[real_done] = 0
        return obs, np.asarray(rew, dtype=np.float32), terminated, truncated, infos

    def _reset_finished(self, obs: np.ndarray, done_ids: np.ndarray) -> None:
        """Run EnvPool's pending auto-reset step for the finished envs and put their first obs into `obs`."""
        reset_obs, _, _, _, reset_info = self.env.step(self._dummy_actions[: len(done_ids)], done_ids.astype(np.int32))
        obs[reset_info["env_id"]] = self._obs(reset_obs)

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        return obs if obs.dtype == self._obs_dtype else obs.astype(self._obs_dtype)

    def render(self) -> Any:
        frames = self.env.render()
        return frames[0] if isinstance(frames, np.ndarray) and frames.ndim == 4 else frames

    def close(self) -> None:
        self.env.close()
