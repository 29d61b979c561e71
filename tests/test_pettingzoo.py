"""`PettingZooParallelEnv` (spaces, key renaming, action masks, inactive agents, auto-reset, time-outs) and the
`tictactoe_v3` example scripts (a short serial training and an evaluation through the command line)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("pettingzoo")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from learning_envs import run_training  # noqa: E402

from sample_factory.algo.utils.context import global_model_factory, reset_global_context  # noqa: E402
from sample_factory.envs.pettingzoo_envs import PettingZooParallelEnv  # noqa: E402
from sf_examples import train_pettingzoo_env as ttt  # noqa: E402

P1, P2 = 0, 1


def _tictactoe() -> PettingZooParallelEnv:
    return ttt.make_pettingzoo_env("tictactoe_v3")


def _free_cells_mask(*occupied: int) -> np.ndarray:
    mask = np.ones(9, dtype=np.int8)
    mask[list(occupied)] = 0
    return mask


# ------------------------------------------------------------------ tic-tac-toe through the wrapper


def test_spaces_and_agents():
    env = _tictactoe()
    assert env.num_agents == 2 and env.is_multiagent is True
    assert isinstance(env.observation_space, gym.spaces.Dict)
    assert set(env.observation_space.spaces) == {"obs", "action_mask"}  # "observation" renamed to "obs"
    assert env.observation_space["obs"].shape == (3, 3, 2)
    assert env.observation_space["action_mask"].shape == (9,)
    assert env.action_space == gym.spaces.Discrete(9)


def test_reset_first_player_active_and_masks():
    env = _tictactoe()
    obs, infos = env.reset(seed=0)
    assert len(obs) == 2 and len(infos) == 2
    assert set(obs[P1]) == {"obs", "action_mask"}
    assert env.observation_space.contains(obs[P1]) and env.observation_space.contains(obs[P2])
    assert [i["is_active"] for i in infos] == [True, False]
    np.testing.assert_array_equal(obs[P1]["action_mask"], np.ones(9))
    np.testing.assert_array_equal(obs[P2]["action_mask"], np.zeros(9))  # not its turn: no legal move
    assert not obs[P1]["obs"].any()  # an empty board


def test_turns_alternate_and_masks_exclude_occupied_cells():
    env = _tictactoe()
    env.reset(seed=0)
    obs, rew, term, trunc, infos = env.step([4, 7])  # player 1 takes the centre; player 2's action is ignored
    assert rew == [0.0, 0.0] and term == [False, False] and trunc == [False, False]
    assert [i["is_active"] for i in infos] == [False, True]
    np.testing.assert_array_equal(obs[P2]["action_mask"], _free_cells_mask(4))
    np.testing.assert_array_equal(obs[P1]["action_mask"], np.zeros(9))
    # the board as player 2 sees it: plane 0 = own marks, plane 1 = opponent's; centre cell = row 1, col 1
    assert obs[P2]["obs"][1, 1, 1] == 1 and obs[P2]["obs"].sum() == 1

    obs, _, _, _, infos = env.step([0, 0])  # player 2 takes cell 0
    assert [i["is_active"] for i in infos] == [True, False]
    np.testing.assert_array_equal(obs[P1]["action_mask"], _free_cells_mask(0, 4))


def test_win_reports_rewards_and_auto_resets():
    env = _tictactoe()
    env.reset(seed=0)
    # player 1 plays cells 0, 1, 2 (the top row); player 2 plays 3, 4
    moves = [(0, 0), (0, 3), (1, 0), (0, 4)]
    for move in moves:
        _, rew, term, trunc, _ = env.step(list(move))
        assert rew == [0.0, 0.0] and term == [False, False]
    obs, rew, term, trunc, infos = env.step([2, 0])
    assert rew == [1.0, -1.0]
    assert term == [True, True] and trunc == [False, False]
    # auto-reset: the observations start the next game, player 1 moves first again
    assert not obs[P1]["obs"].any() and not obs[P2]["obs"].any()
    np.testing.assert_array_equal(obs[P1]["action_mask"], np.ones(9))
    assert [i["is_active"] for i in infos] == [True, False]
    _, rew, term, _, infos = env.step([8, 0])  # the new game goes on normally
    assert rew == [0.0, 0.0] and term == [False, False] and [i["is_active"] for i in infos] == [False, True]


def test_waiting_agents_stay_active_when_asked():
    from pettingzoo.classic import tictactoe_v3
    from pettingzoo.utils.conversions import turn_based_aec_to_parallel

    env = PettingZooParallelEnv(turn_based_aec_to_parallel(tictactoe_v3.env()), mark_waiting_inactive=False)
    _, infos = env.reset(seed=0)
    assert [i["is_active"] for i in infos] == [True, True]
    _, _, _, _, infos = env.step([4, 4])
    assert [i["is_active"] for i in infos] == [True, True]


def test_encoder_and_action_mask_in_the_model():
    from sample_factory.model.actor_critic import create_actor_critic

    reset_global_context()
    try:
        cfg = ttt.parse_pettingzoo_args(["--env=tictactoe_v3", "--device=cpu"])
        assert cfg.use_rnn is False and cfg.decorrelate_envs_on_one_worker is False  # the example's defaults
        ttt.register_pettingzoo_components()
        assert global_model_factory().make_model_encoder_func is ttt.make_tictactoe_encoder
        env = _tictactoe()
        model = create_actor_critic(cfg, env.observation_space, env.action_space)
        assert sum(isinstance(m, ttt.TicTacToeEncoder) for m in model.modules()) == 1
        obs, _ = env.reset(seed=0)
        obs, *_ = env.step([4, 0])
        board = torch.as_tensor(np.stack([o["obs"] for o in obs]))
        mask = torch.as_tensor(np.stack([o["action_mask"] for o in obs]))
        mask[P1] = torch.as_tensor(_free_cells_mask(0, 1, 2, 3, 4))  # pretend player 1 could still move
        batch = {"obs": board.repeat(50, 1, 1, 1), "action_mask": mask.repeat(50, 1)}
        with torch.no_grad():
            out = model(model.normalize_obs(batch), torch.zeros(100, 1))
        actions = out["actions"].reshape(-1)[0::2]  # player 1 rows: only cells 5..8 are allowed
        assert set(actions.tolist()) <= {5, 6, 7, 8}
        assert (out["action_logits"][0::2, :5] < -1e8).all()
    finally:
        reset_global_context()


# ------------------------------------------------------------------ generic parallel envs (fakes)


class _FakeParallelEnv:
    """Two agents acting together; "b" leaves (terminated) after `b_steps`, "a" is truncated after `a_steps`."""

    metadata: dict[str, Any] = {"name": "fake"}

    def __init__(self, a_steps: int = 3, b_steps: int = 1, b_space: gym.Space | None = None) -> None:
        self.possible_agents = ["a", "b"]
        self.agents: list[str] = []
        self.a_steps, self.b_steps = a_steps, b_steps
        self._obs_space = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
        self._b_space = b_space or self._obs_space
        self.t = 0
        self.received: list[dict] = []
        self.resets = 0

    def observation_space(self, agent: str) -> gym.Space:
        return self._obs_space if agent == "a" else self._b_space

    def action_space(self, agent: str) -> gym.Space:
        return gym.spaces.Discrete(3)

    def _obs(self) -> dict[str, np.ndarray]:
        return {ag: np.full(2, self.t + (1 if ag == "a" else 2), np.float32) for ag in self.agents}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.t, self.agents = 0, list(self.possible_agents)
        self.resets += 1
        return self._obs(), {ag: {} for ag in self.agents}

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        self.received.append(dict(actions))
        self.t += 1
        obs = self._obs()
        rewards = {ag: 1.0 for ag in self.agents}
        terms = {ag: ag == "b" and self.t >= self.b_steps for ag in self.agents}
        truncs = {ag: ag == "a" and self.t >= self.a_steps for ag in self.agents}
        infos = {ag: {"t": self.t} for ag in self.agents}
        self.agents = [ag for ag in self.agents if not (terms[ag] or truncs[ag])]
        return obs, rewards, terms, truncs, infos


def test_agent_leaving_early_is_inactive_and_done_with_the_others():
    pz = _FakeParallelEnv(a_steps=3, b_steps=1)
    env = PettingZooParallelEnv(pz)
    assert env.observation_space == pz.observation_space("a")  # Box obs pass through unchanged
    obs, infos = env.reset(seed=3)
    assert [i["is_active"] for i in infos] == [True, True]
    np.testing.assert_array_equal(obs[1], [2.0, 2.0])

    obs, rew, term, trunc, infos = env.step(np.array([2, 1]))
    assert pz.received[-1] == {"a": 2, "b": 1} and all(type(v) is int for v in pz.received[-1].values())
    assert rew == [1.0, 1.0]
    assert term == [False, False] and trunc == [False, False]  # b's end is reported when the episode ends
    assert [i["is_active"] for i in infos] == [True, False]
    assert infos[1]["t"] == 1  # PettingZoo's own info keys pass through

    obs, rew, term, trunc, infos = env.step([0, 1])
    assert pz.received[-1] == {"a": 0}  # an absent agent's action is not passed on
    assert rew == [1.0, 0.0] and term == [False, False]
    np.testing.assert_array_equal(obs[1], [0.0, 0.0])  # absent: zero observation
    assert [i["is_active"] for i in infos] == [True, False]

    obs, rew, term, trunc, infos = env.step([0, 0])  # a is truncated: everybody is done, then auto-reset
    assert rew == [1.0, 0.0]
    assert term == [False, True] and trunc == [True, False]  # per-agent flags (truncated = time-out)
    assert pz.resets == 2
    np.testing.assert_array_equal(obs[0], [1.0, 1.0])  # the first obs of the new episode (t=0)
    assert [i["is_active"] for i in infos] == [True, True]


def test_pettingzoo_info_dicts_are_not_modified():
    pz = _FakeParallelEnv()
    env = PettingZooParallelEnv(pz)
    env.reset()
    shared_info: dict = {"x": 1}
    original_step = pz.step

    def step_with_shared_info(actions: dict) -> tuple:
        obs, rew, term, trunc, _ = original_step(actions)
        return obs, rew, term, trunc, {ag: shared_info for ag in pz.possible_agents}

    pz.step = step_with_shared_info  # type: ignore[method-assign]
    _, _, _, _, infos = env.step([0, 0])
    assert shared_info == {"x": 1} and infos[0] == {"x": 1, "is_active": True}


def test_agents_must_share_spaces():
    with pytest.raises(ValueError, match="share one observation space"):
        PettingZooParallelEnv(_FakeParallelEnv(b_space=gym.spaces.Box(0.0, 1.0, (3,), np.float32)))


# ------------------------------------------------------------------ the example scripts, end to end


@pytest.mark.slow
def test_train_and_enjoy_tictactoe(tmp_path):
    common = ["--env=tictactoe_v3", "--experiment=ttt", f"--train_dir={tmp_path}", "--device=cpu"]
    run = run_training(
        "sf_examples.train_pettingzoo_env",
        [*common, "--serial_mode=True", "--num_workers=1", "--train_for_env_steps=3000"],
        timeout=60,
    )
    assert run.returncode == 0, run.tail()
    assert "Illegal move" not in run.output  # the action mask reaches the policy
    exp_dir = tmp_path / "ttt"
    assert list((exp_dir / "checkpoint_p0").glob("checkpoint_*.pth")), run.tail()
    with open(exp_dir / "config.json") as f:
        assert json.load(f)["env"] == "tictactoe_v3"

    enjoy = run_training("sf_examples.enjoy_pettingzoo_env", [*common, "--no_render", "--max_num_episodes=6"])
    assert enjoy.returncode == 0, enjoy.tail()
    assert "Illegal move" not in enjoy.output
    assert "Avg episode reward" in enjoy.output
