"""`PettingZooParallelEnv`: a PettingZoo Parallel API env presented as a Sample Factory multi-agent env.

Per-agent lists, auto-reset, `is_active` for absent or waiting agents, "observation" renamed to "obs".
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

OBS_KEY_RENAMES = {"observation": "obs"}


def _rename_obs_space(space: gym.Space) -> gym.Space:
    if isinstance(space, gym.spaces.Dict):
        return gym.spaces.Dict({OBS_KEY_RENAMES.get(k, k): v for k, v in space.spaces.items()})
    return space


def _zeros_like_space(space: gym.Space) -> Any:
    if isinstance(space, gym.spaces.Dict):
        return {k: _zeros_like_space(v) for k, v in space.spaces.items()}
    if isinstance(space, gym.spaces.Discrete):
        return np.int64(space.start)
    return np.zeros(space.shape, dtype=space.dtype)


class PettingZooParallelEnv(gym.Env):
    """Wrap a PettingZoo Parallel API env (for AEC envs: `turn_based_aec_to_parallel(aec_env)` first).

    Contract seen by the sampler (slot i = `env.possible_agents[i]`):
    * `num_agents = len(possible_agents)`, `is_multiagent = True`; all agents must share one observation space and
      one action space (ValueError otherwise).
    * Dict observations keep their keys except "observation", which becomes "obs"; `action_mask` passes through so
      the model masks invalid Discrete actions. Other observations are returned as they are.
    * `step(actions)` takes one action per slot; actions of absent agents are not passed to the env.
    * `info["is_active"]` is set for every agent: False when the agent is not in `env.agents` (done early or not
      spawned), and, with `mark_waiting_inactive=True` (default), when it is not its turn (`agent_selection` of a
      converted AEC env, or the `active_agent` info key) or its `action_mask` allows no action. Absent agents get
      zero observations and reward 0.
    * An agent that finishes before the others is reported done together with them, when the env resets (its steps
      in between are inactive, so they are not trained on and their bootstrap value is masked). When no agent is
      left, the env resets itself: the returned observations start the next episode, `terminated`/`truncated` are
      the per-agent flags PettingZoo gave (truncated is stored as a time-out), and the infos are the final ones.

    Note: the learner masks out rewards of inactive steps, so in a turn-based game the reward an agent gets on the
    opponent's move (e.g. -1 when the opponent wins) is not learned from. `mark_waiting_inactive=False` keeps
    waiting agents active (their all-zero action mask makes their policy gradient zero), which keeps that reward.
    """

    metadata: dict[str, Any] = {"render_modes": ["human", "rgb_array"]}

    def __init__(self, env: Any, mark_waiting_inactive: bool = True) -> None:
        self.env = env
        self.mark_waiting_inactive = mark_waiting_inactive
        self.agent_ids: list[Any] = list(env.possible_agents)
        if not self.agent_ids:
            raise ValueError("The PettingZoo env has no possible_agents")
        self.num_agents = len(self.agent_ids)
        self.is_multiagent = True

        first = self.agent_ids[0]
        obs_space, action_space = env.observation_space(first), env.action_space(first)
        for agent in self.agent_ids[1:]:
            if env.observation_space(agent) != obs_space or env.action_space(agent) != action_space:
                raise ValueError(
                    f"All agents must share one observation space and one action space: {first} has "
                    f"{obs_space} / {action_space}, {agent} has {env.observation_space(agent)} / "
                    f"{env.action_space(agent)}"
                )
        self.observation_space = _rename_obs_space(obs_space)
        self.action_space = action_space
        self.render_mode = getattr(env, "render_mode", None)
        self.metadata = dict(getattr(env, "metadata", None) or self.metadata)
        self._zero_obs = _zeros_like_space(self.observation_space)
        self._ended: dict[Any, tuple[bool, bool]] = {}  # agent -> (terminated, truncated) of its episode end

    # ------------------------------------------------------------------ conversions

    def _convert_obs(self, obs: Any) -> Any:
        if isinstance(obs, dict):
            return {OBS_KEY_RENAMES.get(k, k): v for k, v in obs.items()}
        return obs

    def _obs_list(self, obs: dict) -> list[Any]:
        return [self._convert_obs(obs[a]) if a in obs else self._zero_obs for a in self.agent_ids]

    def _turn_agent(self, infos: dict) -> Any | None:
        """The agent whose turn it is in a turn-based env, or None when all present agents act together."""
        aec_env = getattr(self.env, "aec_env", None)  # set by PettingZoo's turn_based_aec_to_parallel
        if aec_env is not None:
            return aec_env.agent_selection if getattr(aec_env, "agents", None) else None
        for info in infos.values():
            if isinstance(info, dict) and "active_agent" in info:
                return info["active_agent"]
        return None

    def _is_active(self, agent: Any, obs: Any, present: set, turn: Any | None) -> bool:
        if agent not in present or agent in self._ended:
            return False
        if not self.mark_waiting_inactive:
            return True
        if turn is not None and agent != turn:
            return False
        if isinstance(obs, dict) and "action_mask" in obs:
            return bool(np.any(obs["action_mask"]))
        return True

    def _infos_list(self, infos: dict, obs_list: list[Any], activity_infos: dict | None = None) -> list[dict]:
        present = set(self.env.agents)
        turn = self._turn_agent(infos if activity_infos is None else activity_infos)
        out = []
        for agent, obs in zip(self.agent_ids, obs_list):
            info = dict(infos.get(agent) or {})  # a copy: PettingZoo may hand out its own info dicts
            info["is_active"] = self._is_active(agent, obs, present, turn)
            out.append(info)
        return out

    def _env_action(self, action: Any) -> Any:
        if isinstance(self.action_space, gym.spaces.Discrete):
            return int(np.asarray(action).reshape(-1)[0])
        return action

    # ------------------------------------------------------------------ gymnasium API (per-agent lists)

    def reset(  # type: ignore[override]  # multi-agent: lists per agent
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[list[Any], list[dict]]:
        obs, infos = self.env.reset(seed=seed, options=options)
        self._ended = {}
        obs_list = self._obs_list(obs)
        return obs_list, self._infos_list(infos or {}, obs_list)

    def step(  # type: ignore[override]  # multi-agent: lists per agent
        self, actions: list[Any] | np.ndarray
    ) -> tuple[list[Any], list[float], list[bool], list[bool], list[dict]]:
        present = set(self.env.agents)
        env_actions = {a: self._env_action(actions[i]) for i, a in enumerate(self.agent_ids) if a in present}
        obs, rewards, terminations, truncations, infos = self.env.step(env_actions)
        infos = infos or {}
        for agent in self.agent_ids:
            term, trunc = bool(terminations.get(agent, False)), bool(truncations.get(agent, False))
            if (term or trunc) and agent not in self._ended:
                self._ended[agent] = (term, trunc)
        rew_list = [float(rewards.get(a, 0.0)) for a in self.agent_ids]

        if self.env.agents:  # the episode goes on; agents that ended early wait, inactive, for the others
            obs_list = self._obs_list(obs)
            false = [False] * self.num_agents
            return obs_list, rew_list, false, list(false), self._infos_list(infos, obs_list)

        # every agent is done: report the flags PettingZoo gave, then auto-reset
        ended = [self._ended.get(a, (True, False)) for a in self.agent_ids]
        terminated, truncated = [e[0] for e in ended], [e[1] for e in ended]
        new_obs, new_infos = self.env.reset()
        self._ended = {}
        obs_list = self._obs_list(new_obs)
        return obs_list, rew_list, terminated, truncated, self._infos_list(infos, obs_list, new_infos or {})

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()
