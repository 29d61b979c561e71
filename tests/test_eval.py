"""Tests of sample_factory.eval.do_eval: equal episodes per env slot, CSV rows, JSON summary, worker failures."""

from __future__ import annotations

import csv
import importlib.util
import json
import os

import gymnasium as gym
import numpy as np
import pytest

from sample_factory.enjoy import load_eval_cfg
from sample_factory.envs.env_utils import register_env
from sample_factory.eval import do_eval, episodes_per_slot, run_eval_worker, summarize
from sf_examples.train_gym_env import parse_args

_spec = importlib.util.spec_from_file_location(
    "make_experiment", os.path.join(os.path.dirname(__file__), "data", "make_experiment.py")
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


class FixedLengthEnv(gym.Env):
    """Episodes of `2 + 8 * (env_id % 2)` steps (2 on even env ids, 10 on odd), reward 0.5 per step."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def __init__(self, env_id: int, fail: bool = False) -> None:
        self.length = 2 + 8 * (env_id % 2)
        self.fail = fail
        self.t = 0

    def reset(self, seed=None, options=None):
        self.t = 0
        return np.zeros(3, np.float32), {}

    def step(self, action):
        if self.fail:
            raise RuntimeError("simulator exploded")
        self.t += 1
        return np.full(3, self.t / 10, np.float32), 0.5, self.t >= self.length, False, {}


def make_fixed_length_env(full_env_name, cfg=None, env_config=None, render_mode=None):
    return FixedLengthEnv(0 if env_config is None else int(env_config.env_id), fail=full_env_name == "failing_env")


def _eval_cfg(train_dir, name, env, *extra):
    argv = [f"--env={env}", f"--experiment={name}", f"--train_dir={train_dir}", "--device=cpu", *extra]
    return parse_args(argv, evaluation=True)


def test_episodes_per_slot():
    assert episodes_per_slot(256, 16) == 16
    assert episodes_per_slot(10, 4) == 3  # rounded up: every slot contributes the same number
    assert episodes_per_slot(1, 8) == 1
    assert episodes_per_slot(0, 8) == 1


def test_summarize_by_hand():
    eps = [{"reward": 1.0, "length": 2}, {"reward": 3.0, "length": 4}, {"reward": 8.0, "length": 6}]
    s = summarize(eps)
    assert s["episodes"] == 3
    assert s["reward"] == {"mean": 4.0, "std": pytest.approx(np.sqrt((9 + 1 + 16) / 3)), "min": 1.0, "max": 8.0}
    assert s["length"]["mean"] == 4.0 and s["length"]["min"] == 2.0 and s["length"]["max"] == 6.0


def test_worker_collects_equal_episodes_per_slot_in_process(tmp_path):
    register_env("fixed_length_env", make_fixed_length_env)
    helpers.make_experiment(str(tmp_path), "exp", env="fixed_length_env", extra=["--use_rnn=False"])
    cfg = load_eval_cfg(_eval_cfg(tmp_path, "exp", "fixed_length_env", "--num_envs_per_worker=3"))
    episodes = run_eval_worker(cfg, worker_idx=1, episodes_per_agent=4)  # env ids 3, 4, 5
    assert len(episodes) == 12
    for env_idx, length in ((0, 10), (1, 2), (2, 10)):
        mine = [e for e in episodes if e["env"] == env_idx]
        assert [e["episode"] for e in mine] == [0, 1, 2, 3]
        assert all(e["length"] == length and e["reward"] == 0.5 * length and e["worker"] == 1 for e in mine)
    assert summarize(episodes)["length"]["mean"] == pytest.approx((10 + 2 + 10) / 3)


@pytest.mark.slow
def test_equal_episodes_per_env_no_short_episode_bias(tmp_path):
    register_env("fixed_length_env", make_fixed_length_env)
    helpers.make_experiment(str(tmp_path), "exp", env="fixed_length_env", extra=["--use_rnn=False"])
    cfg = _eval_cfg(
        tmp_path, "exp", "fixed_length_env", "--num_workers=2", "--num_envs_per_worker=2", "--sample_env_episodes=10"
    )
    assert do_eval(cfg) == 0

    with open(tmp_path / "exp" / "eval_p0.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12  # 4 slots x ceil(10 / 4) episodes
    per_slot: dict[tuple, list[int]] = {}
    for r in rows:
        per_slot.setdefault((r["worker"], r["env"], r["agent"]), []).append(int(r["episode"]))
    assert sorted(per_slot) == [(w, e, "0") for w in ("0", "1") for e in ("0", "1")]
    assert all(sorted(v) == [0, 1, 2] for v in per_slot.values())
    for r in rows:  # env_id = worker * 2 + env: even ids have 2-step episodes, odd ids 10-step ones
        env_id = int(r["worker"]) * 2 + int(r["env"])
        assert int(r["length"]) == (2 if env_id % 2 == 0 else 10)
        assert float(r["reward"]) == pytest.approx(0.5 * int(r["length"]))

    summary = json.loads((tmp_path / "exp" / "eval_p0_summary.json").read_text())
    # half of the episodes are short and half long, although short ones finish 5x more often
    assert summary["length"] == {"mean": 6.0, "std": 4.0, "min": 2.0, "max": 10.0}
    assert summary["reward"]["mean"] == pytest.approx(3.0)
    assert summary["episodes"] == 12 and summary["episodes_per_slot"] == 3


@pytest.mark.slow
def test_csv_folder_and_policy_index(tmp_path, capsys):
    helpers.make_experiment(str(tmp_path), "exp", extra=["--use_rnn=False", "--num_policies=2"])
    cfg = _eval_cfg(
        tmp_path,
        "exp",
        "CartPole-v1",
        "--num_workers=1",
        "--num_envs_per_worker=2",
        "--sample_env_episodes=4",
        "--csv_folder_name=evals",
        "--policy_index=1",
        "--eval_deterministic=True",
    )
    assert do_eval(cfg) == 0
    csv_path = tmp_path / "exp" / "evals" / "eval_p1.csv"
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    saved = json.loads((tmp_path / "exp" / "evals" / "eval_p1_summary.json").read_text())
    assert printed == saved
    rewards = [float(r["reward"]) for r in rows]
    assert saved["reward"]["mean"] == pytest.approx(np.mean(rewards))
    assert saved["reward"]["min"] == min(rewards) and saved["deterministic"] is True


@pytest.mark.slow
def test_worker_failure_is_one_line_and_writes_nothing(tmp_path):
    register_env("failing_env", make_fixed_length_env)
    helpers.make_experiment(str(tmp_path), "exp", env="failing_env", extra=["--use_rnn=False"])
    cfg = _eval_cfg(tmp_path, "exp", "failing_env", "--num_workers=1", "--num_envs_per_worker=1")
    assert do_eval(cfg) == 1
    assert not (tmp_path / "exp" / "eval_p0.csv").exists()


def test_missing_experiment(tmp_path):
    assert do_eval(_eval_cfg(tmp_path, "nope", "CartPole-v1")) == 1
    assert os.listdir(tmp_path) == []
