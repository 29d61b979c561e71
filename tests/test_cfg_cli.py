"""Command-line tests in subprocesses: --help content, one-line errors and exit codes, untouched experiment folders.

All of these must be answered before any training starts (run_rl validates first), so they are fast.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from sample_factory.cfg.arguments import build_parser, parse_full_cfg, parse_sf_args
from sample_factory.cfg.experiment import prepare_experiment
from sample_factory.utils.utils import log

SCRIPT = "sf_examples.train_gym_env"
pytestmark = pytest.mark.slow  # each test starts a python process that imports torch


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", SCRIPT, *args], cwd=cwd, capture_output=True, text=True, timeout=180, env=env
    )


def squash(text: str) -> str:
    return "".join(text.split())


def tree_digest(path) -> dict[str, str]:
    digest = {}
    for root, dirs, files in os.walk(path):
        for d in dirs:
            digest[os.path.relpath(os.path.join(root, d), path) + "/"] = "dir"
        for f in files:
            full = os.path.join(root, f)
            with open(full, "rb") as fh:
                digest[os.path.relpath(full, path)] = hashlib.sha256(fh.read()).hexdigest()
    return digest


def make_experiment(train_dir) -> None:
    """An existing experiment: config.json, a checkpoint and a log, created in this process."""
    argv = ["--env=CartPole-v1", f"--train_dir={train_dir}", "--experiment=exp", "--device=cpu", "--log_to_file=False"]
    parser, _ = parse_sf_args(argv)
    prepare_experiment(parse_full_cfg(parser, argv))
    ckpt = train_dir / "exp" / "checkpoint_p0"
    ckpt.mkdir()
    (ckpt / "checkpoint_000000010_320.pth").write_bytes(b"weights")
    (train_dir / "exp" / "sf_log.txt").write_text("old log\n")


def test_help_lists_every_parameter_with_help(tmp_path):
    res = run("--env=CartPole-v1", "--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = squash(res.stdout)
    actions = [a for a in build_parser()._actions]
    assert len(actions) == 118  # 117 training parameters + -h/--help (evaluation adds 16 more)
    for a in actions:
        assert squash(a.option_strings[-1]) in out, a.dest
        assert squash(a.help) in out, f"help of --{a.dest} missing"
    assert "(default:1024)" in out  # batch_size default shown
    assert not os.listdir(tmp_path)  # --help writes nothing


def test_help_without_env_exits_0(tmp_path):
    res = run("--help", cwd=tmp_path)
    assert res.returncode == 0
    assert "--num_envs_per_worker" in res.stdout


@pytest.mark.parametrize(
    "arg, expected",
    [
        ("--lerning_rate=0.001", "unknown parameter --lerning_rate; did you mean --learning_rate?"),
        ("--num_workers=four", "argument --num_workers: invalid int value: 'four'"),
        ("--use_rnn=yes", "argument --use_rnn: Boolean value expected"),
        ("--restart_behavior=delete", "argument --restart_behavior: invalid choice: 'delete'"),
    ],
)
def test_parse_errors_are_one_line_exit_2(tmp_path, arg, expected):
    make_experiment(tmp_path)
    before = tree_digest(tmp_path)
    res = run("--env=CartPole-v1", f"--train_dir={tmp_path}", "--experiment=exp", arg, cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], res.stderr
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("behavior", ["resume", "overwrite"])
def test_invalid_config_one_line_error_and_folder_unchanged(tmp_path, behavior):
    make_experiment(tmp_path)
    before = tree_digest(tmp_path)
    res = run(
        "--env=CartPole-v1",
        f"--train_dir={tmp_path}",
        "--experiment=exp",
        "--device=cpu",
        f"--restart_behavior={behavior}",
        "--num_envs_per_worker=3",
        cwd=tmp_path,
    )
    output = res.stdout + res.stderr
    assert res.returncode != 0
    msg = "--num_envs_per_worker=3 must be divisible by --worker_num_splits=2: use an even number"
    assert len([line for line in output.splitlines() if msg in line]) == 1, output
    assert "Traceback" not in output
    assert tree_digest(tmp_path) == before


def test_corrupt_config_json_named_and_unchanged(tmp_path):
    make_experiment(tmp_path)
    config = tmp_path / "exp" / "config.json"
    config.write_bytes(b'{"rollout": 32,')
    before = tree_digest(tmp_path)
    res = run("--env=CartPole-v1", f"--train_dir={tmp_path}", "--experiment=exp", "--device=cpu", cwd=tmp_path)
    output = res.stdout + res.stderr
    assert res.returncode != 0
    assert str(config) in output and "Traceback" not in output
    assert tree_digest(tmp_path) == before


@pytest.fixture(autouse=True)
def _no_leaked_log_files():
    before = set(log.handlers)
    yield
    for h in set(log.handlers) - before:
        log.removeHandler(h)
        h.close()
