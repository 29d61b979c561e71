"""Tests of the Hugging Face Hub integration, as far as offline allows: model card, files chosen for upload, the push
and download calls (against a fake in-memory Hub), and the one-line error when the Hub is unreachable.

The real network round trip (create_repo/upload_folder/snapshot_download against huggingface.co) is NOT tested here.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys

import pytest

import sample_factory.huggingface.huggingface_utils as hf
from sample_factory.enjoy import enjoy
from sample_factory.utils.utils import log
from sf_examples.train_gym_env import parse_args

pytest.importorskip("huggingface_hub")

_spec = importlib.util.spec_from_file_location(
    "make_experiment", os.path.join(os.path.dirname(__file__), "data", "make_experiment.py")
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: connection refused at once


@pytest.fixture
def experiment(tmp_path):
    helpers.make_experiment(str(tmp_path), "exp", extra=["--use_rnn=False"])
    exp = tmp_path / "exp"
    ckpt_dir = exp / "checkpoint_p0"
    (ckpt_dir / "checkpoint_000000003_100.pth").write_bytes(b"older")  # sorts before the real one
    (exp / "sf_log.txt").write_text("log\n")
    (exp / "replay.mp4").write_bytes(b"video")
    (exp / "eval_p0.csv").write_text("worker\n")
    (exp / ".summary" / "0").mkdir(parents=True)
    (exp / ".summary" / "0" / "events.out.tfevents.1").write_bytes(b"tb")
    return exp


def test_hub_files_selects_shareable_files(experiment):
    (experiment / "checkpoint_p0" / "best_000000007_1234_reward_3.000.pth").write_bytes(b"best")
    files = hf.hub_files(str(experiment))
    assert files == [
        "config.json",
        "sf_log.txt",
        "replay.mp4",
        "checkpoint_p0/checkpoint_000000007_1234.pth",
        "checkpoint_p0/best_000000007_1234_reward_3.000.pth",
    ]


def test_model_card(experiment):
    card = hf.generate_model_card(
        str(experiment),
        "alice/cartpole-appo",
        mean_reward=123.456,
        std_reward=7.891,
        enjoy_script="sf_examples.enjoy_gym_env",
    )
    head, body = card.split("\n---\n", 1)
    assert head.startswith("---\nlibrary_name: sample-factory\n")
    for tag in ("deep-reinforcement-learning", "reinforcement-learning", "sample-factory"):
        assert f"- {tag}\n" in head
    assert "      name: CartPole-v1" in head
    assert "value: 123.46 +/- 7.89" in head
    assert "python -m sample_factory.huggingface.load_from_hub -r alice/cartpole-appo -d ./train_dir" in body
    assert (
        "python -m sf_examples.enjoy_gym_env --algo=APPO --env=CartPole-v1 --train_dir=./train_dir "
        "--experiment=cartpole-appo" in body
    )
    assert "python -m sf_examples.train_gym_env" in body  # derived from the enjoy script
    no_result = hf.generate_model_card(str(experiment), "alice/x", mean_reward=float("nan"), std_reward=0.0)
    assert "model-index" not in no_result and "Not evaluated yet" in no_result


def test_prepare_upload_writes_card_and_lists_files(experiment):
    files = hf.prepare_upload(str(experiment), "alice/exp", mean_reward=10.0, std_reward=1.0)
    assert "README.md" in files and (experiment / "README.md").is_file()
    assert "checkpoint_p0/checkpoint_000000003_100.pth" not in files
    assert not any(f.startswith(".summary") or f.endswith(".csv") for f in files)
    with pytest.raises(hf.HubError, match="<user>/<repo>"):
        hf.prepare_upload(str(experiment), "no-slash")
    with pytest.raises(hf.HubError, match="no config.json"):
        hf.prepare_upload(str(experiment / "checkpoint_p0"), "alice/exp")


class FakeHub:
    """create_repo/upload_folder/snapshot_download against a local folder per repository."""

    def __init__(self, root):
        self.root = root
        self.calls = []

    def api(self):
        hub = self

        class Api:
            def create_repo(self, repo_id, private=False, exist_ok=False):
                hub.calls.append(("create_repo", repo_id, exist_ok))
                os.makedirs(os.path.join(hub.root, repo_id), exist_ok=True)
                return f"https://huggingface.co/{repo_id}"

            def upload_folder(self, repo_id, folder_path, allow_patterns, delete_patterns, commit_message):
                hub.calls.append(("upload_folder", repo_id, sorted(allow_patterns)))
                for rel in allow_patterns:
                    dst = os.path.join(hub.root, repo_id, rel)
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    shutil.copy(os.path.join(folder_path, rel), dst)

        return Api()

    def snapshot_download(self, repo_id, local_dir, library_name=None):
        shutil.copytree(os.path.join(self.root, repo_id), local_dir, dirs_exist_ok=True)
        return local_dir


def test_push_then_download_then_enjoy_with_fake_hub(tmp_path, experiment, monkeypatch):
    import huggingface_hub

    fake = FakeHub(str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub, "HfApi", fake.api)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    monkeypatch.setattr(hf, "_check_reachable", lambda endpoint: None)

    url = hf.push_to_hf(str(experiment), "alice/cart", mean_reward=5.0, std_reward=0.5)
    assert url == "https://huggingface.co/alice/cart"
    assert fake.calls[0] == ("create_repo", "alice/cart", True)
    assert "README.md" in fake.calls[1][2]

    downloads = tmp_path / "downloads"
    path = hf.load_from_hf(str(downloads), "alice/cart")
    assert path == str(downloads / "cart")
    assert sorted(os.listdir(downloads / "cart" / "checkpoint_p0")) == ["checkpoint_000000007_1234.pth"]
    argv = ["--env=CartPole-v1", "--experiment=cart", f"--train_dir={downloads}", "--no_render", "--max_num_episodes=2"]
    status, avg = enjoy(parse_args(argv, evaluation=True))
    assert status == 0 and avg >= 1


def test_enjoy_push_to_hub_offline_is_one_error_line(experiment, monkeypatch):
    monkeypatch.setattr(hf, "_endpoint", lambda: UNREACHABLE)
    errors = []

    class _Handler(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR:
                errors.append(record.getMessage())

    handler = _Handler()
    log.addHandler(handler)
    try:
        argv = [
            "--env=CartPole-v1",
            "--experiment=exp",
            f"--train_dir={experiment.parent}",
            "--no_render",
            "--max_num_episodes=1",
            "--push_to_hub",
            "--hf_repository=alice/exp",
        ]
        status, _ = enjoy(parse_args(argv, evaluation=True))
        assert status == 1
        assert len(errors) == 1 and "\n" not in errors[0]
        assert errors[0].startswith(f"Cannot reach the Hugging Face Hub at {UNREACHABLE}")

        errors.clear()
        status, _ = enjoy(parse_args([*argv[:-1], "--hf_repository=nouser"], evaluation=True))
        assert status == 1 and len(errors) == 1 and "--hf_repository=<user>/<repo>" in errors[0]
    finally:
        log.removeHandler(handler)


def _cli(module: str, *args: str):
    env = dict(os.environ, HF_ENDPOINT=UNREACHABLE)
    env.pop("HF_HUB_OFFLINE", None)
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=120)


def test_load_from_hub_cli_offline(tmp_path):
    res = _cli("sample_factory.huggingface.load_from_hub", "-r", "alice/cart", "-d", str(tmp_path / "td"))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("load_from_hub: error: Cannot reach the Hugging Face Hub")
    assert not (tmp_path / "td").exists()


def test_push_to_hub_cli_offline(experiment):
    res = _cli("sample_factory.huggingface.push_to_hub", "-r", "alice/exp", "-d", str(experiment))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("push_to_hub: error: Cannot reach the Hugging Face Hub")
    assert "library_name: sample-factory" in (experiment / "README.md").read_text()
