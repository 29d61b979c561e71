"""Template for a multi-agent env: two agents, per-agent lists, auto-reset, time-outs and inactive agents.

    python -m sf_examples.train_custom_multi_env --env=my_custom_multi_env_v1 --experiment=my_multi --device=cpu

`my_custom_multi_env_v1` is a repeated prisoner's-dilemma-like game: each step both agents cooperate (0) or defect
(1). Now and then an agent sits out a few steps (`info["is_active"] = False`); its action is then ignored (it counts
as cooperation) and the framework masks those steps out of training.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import gymnasium as gym
import numpy as np

from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
from sample_factory.envs.env_utils import register_env
from sample_factory.train import run_rl
from sample_factory.utils.typing import Config

ENV_NAME = "my_custom_multi_env_v1"
COOPERATE, DEFECT = 0, 1
# PAYOFF[my_action][other_action] -> my reward: mutual cooperation beats mutual defection, but defecting on a
# cooperator pays most (the prisoner's dilemma ordering 1.5 > 1.0 > 0.0 > -0.5)
PAYOFF = np.array([[1.0, -0.5], [1.5, 0.0]], dtype=np.float32)


class CustomMultiEnv(gym.Env):
    """Two agents. Obs per agent: [own last action, other's last action, own active flag, fraction of episode done].

    The env follows the multi-agent contract: `num_agents`, `is_multiagent = True`, `step(list_of_actions)` returns
    lists `(obs, rewards, terminated, truncated, infos)`, and a finished episode resets itself inside `step`.
    """

    metadata = {"render_modes": ["human"]}

    def __init__(self, full_env_name: str, cfg: Config, render_mode: str | None = None, inactive_prob: float = 0.1):
        self.name = full_env_name
        self.cfg = cfg
        self.render_mode = render_mode
        self.num_agents = 2
        self.is_multiagent = True
        self.episode_len = int(cfg.custom_env_episode_len)
        self.inactive_prob = inactive_prob
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.rng = np.random.default_rng()
        self._new_episode_state()

    def _new_episode_state(self) -> None:
        self.t = 0
        self.last_actions = np.full(self.num_agents, -1.0, dtype=np.float32)
        self.inactive_steps_left = np.zeros(self.num_agents, dtype=np.int64)
        self.episode_rewards = np.zeros(self.num_agents, dtype=np.float64)
        self.cooperations = np.zeros(self.num_agents, dtype=np.int64)
        self.active_steps = np.zeros(self.num_agents, dtype=np.int64)

    def _is_active(self, agent: int) -> bool:
        return bool(self.inactive_steps_left[agent] == 0)

    def _obs(self) -> list[np.ndarray]:
        progress = self.t / self.episode_len
        return [
            np.array(
                [self.last_actions[i], self.last_actions[1 - i], float(self._is_active(i)), progress], dtype=np.float32
            )
            for i in range(self.num_agents)
        ]

    def _infos(self) -> list[dict[str, Any]]:
        return [{"is_active": self._is_active(i)} for i in range(self.num_agents)]

    def reset(  # type: ignore[override]  # multi-agent: lists per agent
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[list[np.ndarray], list[dict]]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._new_episode_state()
        return self._obs(), self._infos()

    def step(  # type: ignore[override]  # multi-agent: lists per agent
        self, actions: list[Any]
    ) -> tuple[list[np.ndarray], list[float], list[bool], list[bool], list[dict]]:
        acts = np.zeros(self.num_agents, dtype=np.int64)
        for i in range(self.num_agents):
            if self._is_active(i):
                acts[i] = int(np.asarray(actions[i]).reshape(-1)[0])
                self.active_steps[i] += 1
                self.cooperations[i] += int(acts[i] == COOPERATE)
            # an inactive agent's action is ignored: it counts as cooperation
        rewards = [float(PAYOFF[acts[i], acts[1 - i]]) for i in range(self.num_agents)]
        self.episode_rewards += rewards
        self.last_actions = acts.astype(np.float32)
        self.t += 1

        # inactive periods: count down, and sometimes start a new one (1-3 steps)
        self.inactive_steps_left = np.maximum(self.inactive_steps_left - 1, 0)
        for i in range(self.num_agents):
            if self.inactive_steps_left[i] == 0 and self.rng.random() < self.inactive_prob:
                self.inactive_steps_left[i] = int(self.rng.integers(1, 4))

        truncated = self.t >= self.episode_len  # a time limit: the framework stores it as a time-out
        terminated = [False] * self.num_agents
        if truncated:
            infos: list[dict[str, Any]] = []
            for i in range(self.num_agents):
                coop_rate = self.cooperations[i] / max(1, self.active_steps[i])
                infos.append({"episode_extra_stats": {"cooperation_rate": float(coop_rate)}})
            self._new_episode_state()  # auto-reset: the returned obs start the next episode
            for i in range(self.num_agents):
                infos[i]["is_active"] = self._is_active(i)
        else:
            infos = self._infos()
        return self._obs(), rewards, terminated, [truncated] * self.num_agents, infos

    def render(self) -> None:
        if self.render_mode == "human":
            print(f"t={self.t} last actions={self.last_actions.tolist()} rewards={self.episode_rewards.tolist()}")


def make_custom_multi_env_func(
    full_env_name: str, cfg: Config | None = None, env_config: Any = None, render_mode: str | None = None
) -> CustomMultiEnv:
    return CustomMultiEnv(full_env_name, cfg, render_mode=render_mode)


def add_extra_params_func(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--custom_env_episode_len", default=10, type=int, help="Number of steps in an episode")


def override_default_params_func(env: str, parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(
        rnn_size=128,
        encoder_mlp_layers=[64, 64],
        num_envs_per_worker=4,
        batch_size=512,
    )


def register_custom_components() -> None:
    register_env(ENV_NAME, make_custom_multi_env_func)


def parse_custom_args(argv: list[str] | None = None, evaluation: bool = False) -> Config:
    parser, partial_cfg = parse_sf_args(argv=argv, evaluation=evaluation)
    add_extra_params_func(parser)
    override_default_params_func(partial_cfg.env, parser)
    return parse_full_cfg(parser, argv)


def main(argv: list[str] | None = None) -> int:
    register_custom_components()
    cfg = parse_custom_args(argv)
    return int(run_rl(cfg))


if __name__ == "__main__":
    sys.exit(main())
