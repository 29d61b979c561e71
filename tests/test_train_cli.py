"""End-to-end training through the command line: the experiment folder, checkpoints, summaries and exact resume."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = [
    "--device=cpu",
    "--use_rnn=False",
    "--num_workers=2",
    "--num_envs_per_worker=4",
    "--batch_size=256",
    "--rollout=32",
    "--decorrelate_envs_on_one_worker=False",
    "--experiment_summaries_interval=1",
]


def _train(tmp_path, *args: str, timeout: float = 300) -> str:
    cmd = [
        sys.executable,
        "-m",
        "sf_examples.train_gym_env",
        "--env=CartPole-v1",
        "--experiment=cli",
        f"--train_dir={tmp_path}",
        *FAST,
        *args,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return res.stdout + res.stderr


def _latest_checkpoint(tmp_path) -> dict:
    paths = sorted(glob.glob(os.path.join(tmp_path, "cli", "checkpoint_p0", "checkpoint_*.pth")))
    assert paths
    return torch.load(paths[-1], weights_only=True)


def _tb_steps(tmp_path) -> list[list[int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = []
    for f in sorted(
        glob.glob(os.path.join(tmp_path, "cli", ".summary", "0", "events.out.tfevents.*")), key=os.path.getmtime
    ):
        acc = EventAccumulator(f)
        acc.Reload()
        steps = [e.step for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]
        out.append(steps)
    return out


@pytest.mark.parametrize("serial", [True, False])
def test_experiment_folder_and_exact_resume(tmp_path, serial):
    out1 = _train(tmp_path, f"--serial_mode={serial}", "--train_for_env_steps=6000")
    exp = os.path.join(tmp_path, "cli")
    for name in ("config.json", "sf_log.txt"):
        assert os.path.isfile(os.path.join(exp, name)), name
    cfg = json.load(open(os.path.join(exp, "config.json")))
    assert cfg["train_for_env_steps"] == 6000 and "help" not in cfg and cfg["cli_args"]["serial_mode"] == serial
    assert "Collected {0: " in open(os.path.join(exp, "sf_log.txt")).read()
    assert re.search(r"Collected \{0: \d+\}, FPS", out1)
    ck1 = _latest_checkpoint(tmp_path)
    assert set(ck1) >= {"train_step", "env_steps", "best_performance", "model", "optimizer", "curr_lr"}
    assert ck1["env_steps"] >= 6000 and ck1["train_step"] > 0

    # same command, larger budget: resumes (no --restart_behavior needed), counters continue
    out2 = _train(tmp_path, f"--serial_mode={serial}", "--train_for_env_steps=12000")
    assert "Resuming experiment" in out2
    assert f"train_step {ck1['train_step']}, env_steps {ck1['env_steps']}" in out2
    ck2 = _latest_checkpoint(tmp_path)
    assert ck2["env_steps"] >= 12000 and ck2["train_step"] > ck1["train_step"]
    cfg2 = json.load(open(os.path.join(exp, "config.json")))
    assert cfg2["train_for_env_steps"] == 12000
    runs = _tb_steps(tmp_path)
    assert len(runs) >= 2 and runs[0] and runs[-1]
    assert min(runs[-1]) >= ck1["env_steps"] - 1, "TensorBoard curves must continue, not restart at 0"


def test_resume_when_budget_already_reached_stops_at_once(tmp_path):
    _train(tmp_path, "--serial_mode=True", "--train_for_env_steps=3000")
    ck1 = _latest_checkpoint(tmp_path)
    out = _train(tmp_path, "--serial_mode=True", "--train_for_env_steps=3000")
    assert "reached --train_for_env_steps" in out
    assert _latest_checkpoint(tmp_path)["train_step"] <= ck1["train_step"] + 8


def test_train_for_seconds_is_honoured(tmp_path):
    out = _train(tmp_path, "--serial_mode=True", "--train_for_seconds=6")
    m = re.search(r"Stopped \(reached --train_for_seconds=6\) after ([\d.]+) s", out)
    assert m, out[-3000:]
    assert float(m.group(1)) < 20


def test_summaries_have_documented_metric_names(tmp_path):
    _train(tmp_path, "--serial_mode=True", "--train_for_env_steps=20000", "--stats_avg=10")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: set[str] = set()
    for f in glob.glob(os.path.join(tmp_path, "cli", ".summary", "0", "events.out.tfevents.*")):
        acc = EventAccumulator(f)
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    expected = {
        "reward/reward",
        "len/len",
        "perf/_fps",
        "train/loss",
        "train/policy_loss",
        "train/value_loss",
        "train/entropy",
        "train/lr",
        "train/version_diff_avg",
        "policy_stats/avg_true_objective",
    }
    assert expected <= tags, expected - tags


@pytest.mark.parametrize("async_rl", [True, False])
def test_two_policies_in_parallel_mode(tmp_path, async_rl):
    """One learner, checkpoint folder and summary writer per policy; no deadlock with the policies mixed."""
    out = _train(
        tmp_path, "--serial_mode=False", "--num_policies=2", f"--async_rl={async_rl}", "--train_for_env_steps=12000"
    )
    m = re.search(r"Collected \{0: (\d+), 1: (\d+)\}", out)
    assert m and int(m.group(1)) >= 12000 and int(m.group(2)) >= 12000, out[-2000:]
    for pid in (0, 1):
        assert glob.glob(os.path.join(tmp_path, "cli", f"checkpoint_p{pid}", "checkpoint_*.pth"))
        assert glob.glob(os.path.join(tmp_path, "cli", ".summary", str(pid), "events.out.tfevents.*"))


def test_best_and_milestone_checkpoints(tmp_path):
    _train(
        tmp_path,
        "--serial_mode=True",
        "--train_for_seconds=8",
        "--save_best_after=0",
        "--save_best_every_sec=1",
        "--save_milestones_sec=2",
        "--stats_avg=5",
        "--keep_checkpoints=1",
    )
    ckpt_dir = os.path.join(tmp_path, "cli", "checkpoint_p0")
    best = glob.glob(os.path.join(ckpt_dir, "best_*_reward_*.pth"))
    assert len(best) == 1, os.listdir(ckpt_dir)
    assert torch.load(best[0], weights_only=True)["best_performance"] > 0
    assert glob.glob(os.path.join(ckpt_dir, "milestones", "checkpoint_*.pth"))
    assert len(glob.glob(os.path.join(ckpt_dir, "checkpoint_*.pth"))) == 1  # keep_checkpoints
