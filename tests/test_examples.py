"""The documented custom examples: `train_custom_env_custom_model` (toy env, extra params, overridden defaults, custom
encoder) and `train_custom_multi_env` (two agents, inactive periods, auto-reset), with their enjoy scripts."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from learning_envs import TrainingRun, run_training  # noqa: E402

from sample_factory.algo.utils.context import global_model_factory, reset_global_context  # noqa: E402
from sample_factory.envs.create_env import create_env  # noqa: E402
from sample_factory.envs.env_utils import (  # noqa: E402
    get_default_reward_shaping,
    set_reward_shaping,
    set_training_info,
)
from sf_examples import train_custom_env_custom_model as custom  # noqa: E402
from sf_examples import train_custom_multi_env as multi  # noqa: E402

ENJOY_AVG_RE = re.compile(r"Avg episode reward: (-?[\d.]+), std")


def _explain(run: TrainingRun) -> str:
    return f"exit {run.returncode} after {run.seconds:.0f} s, average rewards {run.rewards}\n{run.tail()}"


@pytest.fixture
def clean_context():
    reset_global_context()
    yield
    reset_global_context()


# ------------------------------------------------------------------ my_custom_env_v1


def _custom_cfg(*argv: str):
    return custom.parse_custom_args(["--env=my_custom_env_v1", *argv])


def test_custom_env_params_and_overridden_defaults():
    cfg = _custom_cfg()
    assert cfg.custom_env_num_actions == 10 and cfg.custom_env_episode_len == 1000
    assert cfg.rnn_size == 128  # override_default_params_func; the framework default is 512
    cfg = _custom_cfg("--custom_env_num_actions=4", "--rnn_size=32", "--custom_env_episode_len=7")
    assert (cfg.custom_env_num_actions, cfg.rnn_size, cfg.custom_env_episode_len) == (4, 32, 7)  # CLI wins
    assert cfg.cli_args["rnn_size"] == 32


def test_custom_env_reward_is_action_times_001_and_episode_length():
    cfg = _custom_cfg("--custom_env_num_actions=5", "--custom_env_episode_len=3")
    custom.register_custom_components()
    env = create_env("my_custom_env_v1", cfg=cfg, env_config=None)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (1, 10, 10) and obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert env.action_space.n == 5
    _, r, term, trunc, info = env.step(4)
    assert r == pytest.approx(0.04) and not term and not trunc and "episode_extra_stats" not in info
    _, r, _, trunc, _ = env.step(0)
    assert r == 0.0 and not trunc
    obs2, r, term, trunc, info = env.step(4)
    assert r == pytest.approx(0.04) and trunc and not term  # the 3rd step ends the episode by time limit
    assert info["episode_extra_stats"] == {"last_action_fraction": 1.0}
    assert not np.array_equal(obs, obs2)  # observations are random
    with pytest.raises(ValueError, match="outside Discrete"):
        env.step(5)


def test_custom_env_interfaces_reach_the_env():
    cfg = _custom_cfg()
    env = custom.make_custom_env_func("my_custom_env_v1", cfg)
    env.reset(seed=0)
    assert get_default_reward_shaping(env) == {"action_reward_scale": 0.01}
    set_reward_shaping(env, {"action_reward_scale": 0.5}, slice(0, 1))
    assert env.step(2)[1] == pytest.approx(1.0)
    set_training_info(env, {"approx_total_training_steps": 123})
    assert env.training_info == {"approx_total_training_steps": 123}


def test_custom_encoder_is_used_by_the_model(clean_context):
    from sample_factory.model.actor_critic import create_actor_critic

    cfg = _custom_cfg("--use_rnn=False", "--encoder_conv_mlp_layers", "32")
    custom.register_custom_components()
    assert global_model_factory().make_model_encoder_func is custom.make_custom_encoder
    env = custom.make_custom_env_func("my_custom_env_v1", cfg)
    import gymnasium as gym

    obs_space = gym.spaces.Dict({"obs": env.observation_space})
    model = create_actor_critic(cfg, obs_space, env.action_space)
    encoders = [m for m in model.modules() if isinstance(m, custom.CustomEncoder)]
    assert len(encoders) == 1 and encoders[0].get_out_size() == 32
    obs = {"obs": torch.rand(5, 1, 10, 10)}
    assert encoders[0](obs).shape == (5, 32)
    out = model(model.normalize_obs(obs), torch.zeros(5, 1))
    assert out["actions"].shape[0] == 5 and out["action_logits"].shape == (5, 10)


@pytest.mark.slow
def test_custom_env_trains_to_optimum_and_enjoys(tmp_path):
    # 50-step episodes: the optimum (always the last action) gets 9 * 0.01 * 50 = 4.5; a random policy 2.25
    optimum = 4.5
    common = [
        f"--train_dir={tmp_path}",
        "--experiment=custom",
        "--device=cpu",
        "--env=my_custom_env_v1",
        "--custom_env_episode_len=50",
    ]
    run = run_training(
        "sf_examples.train_custom_env_custom_model",
        [*common, "--serial_mode=True", "--learning_rate=0.003", "--train_for_env_steps=1000000"],
        stop_at_reward=0.9 * optimum,
        timeout=120,
    )
    assert run.rewards and max(run.rewards) >= 0.9 * optimum, _explain(run)
    cfg_text = (tmp_path / "custom" / "config.json").read_text()
    assert '"rnn_size": 128' in cfg_text and '"custom_env_episode_len": 50' in cfg_text

    enjoy = run_training(
        "sf_examples.enjoy_custom_env_custom_model",
        [*common, "--no_render", "--max_num_episodes=3"],
        timeout=90,
    )
    assert enjoy.returncode == 0, _explain(enjoy)
    m = ENJOY_AVG_RE.search(enjoy.output)
    assert m and float(m.group(1)) >= 0.8 * optimum, _explain(enjoy)


# ------------------------------------------------------------------ my_custom_multi_env_v1


def _multi_env(episode_len: int = 10, inactive_prob: float = 0.1) -> multi.CustomMultiEnv:
    cfg = multi.parse_custom_args([f"--env={multi.ENV_NAME}", f"--custom_env_episode_len={episode_len}"])
    return multi.CustomMultiEnv(multi.ENV_NAME, cfg, inactive_prob=inactive_prob)


def test_multi_env_defaults():
    cfg = multi.parse_custom_args([f"--env={multi.ENV_NAME}"])
    assert cfg.custom_env_episode_len == 10 and cfg.rnn_size == 128


def test_multi_env_contract_auto_reset_and_time_outs():
    env = _multi_env(episode_len=3, inactive_prob=0.0)
    assert env.num_agents == 2 and env.is_multiagent
    obs, infos = env.reset(seed=0)
    assert len(obs) == 2 and all(env.observation_space.contains(o) for o in obs)
    assert [i["is_active"] for i in infos] == [True, True]
    obs, rew, term, trunc, infos = env.step([multi.COOPERATE, multi.DEFECT])
    assert rew == [-0.5, 1.5]  # the defector exploits the cooperator
    assert obs[0][:2].tolist() == [0.0, 1.0] and obs[1][:2].tolist() == [1.0, 0.0]  # own, other's last action
    _, rew, _, _, _ = env.step([multi.DEFECT, multi.DEFECT])
    assert rew == [0.0, 0.0]
    obs, rew, term, trunc, infos = env.step([multi.COOPERATE, multi.COOPERATE])
    assert rew == [1.0, 1.0]
    assert term == [False, False] and trunc == [True, True]  # a time limit, stored as time_outs
    assert infos[0]["episode_extra_stats"] == {"cooperation_rate": pytest.approx(2 / 3)}
    assert infos[1]["episode_extra_stats"] == {"cooperation_rate": pytest.approx(1 / 3)}
    # auto-reset: the returned obs start the next episode
    assert obs[0].tolist() == [-1.0, -1.0, 1.0, 0.0] and env.t == 0
    _, _, _, trunc, _ = env.step([0, 0])
    assert trunc == [False, False]


def test_multi_env_inactive_periods():
    env = _multi_env(episode_len=1000, inactive_prob=0.3)
    _, infos = env.reset(seed=3)
    active_counts = np.zeros(2)
    inactive_seen = False
    for _ in range(300):
        was_active = [i["is_active"] for i in infos]
        obs, rew, _, _, infos = env.step([multi.DEFECT, multi.DEFECT])
        active_counts += was_active
        for agent in range(2):
            # an inactive agent's action is ignored (counted as cooperation) and the obs shows its flag
            assert obs[agent][0] == (1.0 if was_active[agent] else 0.0)
            assert obs[agent][2] == float(infos[agent]["is_active"])
        if not all(was_active):
            inactive_seen = True
    assert inactive_seen and 0 < active_counts.min() and active_counts.max() < 300


def _tb_scalars(summary_dir: str) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(summary_dir)
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.slow
@pytest.mark.parametrize("serial", [True, False], ids=["serial", "parallel"])
def test_multi_env_trains_and_writes_custom_metric(tmp_path, serial):
    common = [f"--train_dir={tmp_path}", "--experiment=multi", "--device=cpu", f"--env={multi.ENV_NAME}"]
    run = run_training(
        "sf_examples.train_custom_multi_env",
        [
            *common,
            f"--serial_mode={serial}",
            "--num_workers=2",
            "--train_for_env_steps=30000",
            "--experiment_summaries_interval=1",
            "--flush_summaries_interval=1",
        ],
        timeout=150,
    )
    assert run.returncode == 0, _explain(run)
    scalars = _tb_scalars(str(tmp_path / "multi" / ".summary" / "0"))
    assert "policy_stats/avg_cooperation_rate" in scalars, sorted(scalars)
    values = [v for _, v in scalars["policy_stats/avg_cooperation_rate"]]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert "reward/reward" in scalars and "len/len" in scalars
    # 10-step episodes: len/len is exactly 10 for every episode of every agent
    assert all(v == pytest.approx(10.0) for _, v in scalars["len/len"])

    enjoy = run_training(
        "sf_examples.enjoy_custom_multi_env", [*common, "--no_render", "--max_num_episodes=4"], timeout=90
    )
    assert enjoy.returncode == 0, _explain(enjoy)
    assert ENJOY_AVG_RE.search(enjoy.output), _explain(enjoy)


def test_custom_params_in_help(capsys):
    with pytest.raises(SystemExit) as exc:
        custom.parse_custom_args(["--env=my_custom_env_v1", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--custom_env_num_actions" in text and "--custom_env_episode_len" in text
