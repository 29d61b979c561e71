"""Checkpoint files: names, rotation, atomic writes, selection, and safe loading (incl. upstream numpy-1.x files)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sample_factory.algo.learning import checkpoint as ckpt_mod
from sample_factory.algo.learning.checkpoint import (
    CheckpointError,
    get_checkpoints,
    latest_checkpoint_path,
    load_checkpoint,
    save_best_checkpoint,
    save_checkpoint,
    save_milestone,
)


def make_cfg(tmp_path, keep=2):
    return SimpleNamespace(train_dir=str(tmp_path), experiment="exp", keep_checkpoints=keep)


def ckpt(train_step, env_steps=0):
    return {"train_step": train_step, "env_steps": env_steps, "best_performance": -1e9,
            "model": {"w": torch.full((2,), float(train_step))}, "optimizer": {}, "curr_lr": 1e-4}  # fmt: skip


def test_periodic_checkpoints_names_and_rotation(tmp_path):
    cfg = make_cfg(tmp_path, keep=2)
    for step in (5, 10, 100):
        save_checkpoint(cfg, 1, ckpt(step, step * 7), step, step * 7)
    d = os.path.join(tmp_path, "exp", "checkpoint_p1")
    assert sorted(os.listdir(d)) == ["checkpoint_000000010_70.pth", "checkpoint_000000100_700.pth"]
    assert latest_checkpoint_path(cfg, 1) == os.path.join(d, "checkpoint_000000100_700.pth")
    assert latest_checkpoint_path(cfg, 0) is None
    assert latest_checkpoint_path(cfg, 1, "best") is None
    with pytest.raises(ValueError, match="kind"):
        latest_checkpoint_path(cfg, 1, "newest")


def test_best_and_milestones(tmp_path):
    cfg = make_cfg(tmp_path)
    save_best_checkpoint(cfg, 0, ckpt(420, 123456), "reward", 87.5)
    save_best_checkpoint(cfg, 0, ckpt(500, 200000), "reward", 90.12345)
    d = os.path.join(tmp_path, "exp", "checkpoint_p0")
    assert get_checkpoints(d, "best") == [os.path.join(d, "best_000000500_200000_reward_90.123.pth")]
    assert latest_checkpoint_path(cfg, 0, "best").endswith("best_000000500_200000_reward_90.123.pth")
    for step in (1, 2, 3):
        save_milestone(cfg, 0, ckpt(step, step))
    assert len(get_checkpoints(os.path.join(d, "milestones"))) == 3  # never deleted
    assert get_checkpoints(d) == []  # milestones and best files are not periodic checkpoints


def test_crash_mid_write_keeps_previous_latest(tmp_path, monkeypatch):
    cfg = make_cfg(tmp_path)
    good = save_checkpoint(cfg, 0, ckpt(1), 1, 10)
    real_save = torch.save

    def crashing_save(obj, f, *args, **kwargs):
        buf = io.BytesIO()
        real_save(obj, buf)
        f.write(buf.getvalue()[:50])  # a partial write, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt_mod.torch, "save", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(cfg, 0, ckpt(2), 2, 20)
    monkeypatch.setattr(ckpt_mod.torch, "save", real_save)
    assert latest_checkpoint_path(cfg, 0) == good
    assert load_checkpoint(good)["train_step"] == 1
    assert sorted(os.listdir(os.path.dirname(good))) == [os.path.basename(good)]  # no temp file left behind


def test_load_roundtrip_and_device(tmp_path):
    path = save_checkpoint(make_cfg(tmp_path), 0, ckpt(3, 33), 3, 33)
    loaded = load_checkpoint(path, torch.device("cpu"))
    assert loaded["train_step"] == 3 and loaded["env_steps"] == 33
    assert torch.equal(loaded["model"]["w"], torch.full((2,), 3.0))


def _as_numpy1_file(obj, path):
    """torch.save `obj`, then rename numpy 2's `numpy._core` globals to numpy 1.x's `numpy.core` in data.pkl,
    producing the bytes a numpy-1.x upstream run writes."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray\nscalar" in data
                data = data.replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar")
            dst.writestr(info, data)


def test_loads_upstream_numpy1_checkpoint(tmp_path):
    path = str(tmp_path / "checkpoint_000000010_1000.pth")
    upstream = {"train_step": 10, "env_steps": 1000, "best_performance": np.float64(12.5), "curr_lr": np.float32(0.5),
                "model": {"critic_linear.weight": torch.ones(1, 4)}, "optimizer": {"state": {}, "param_groups": []}}  # fmt: skip
    _as_numpy1_file(upstream, path)
    with pytest.raises(
        pickle.UnpicklingError
    ):  # plain weights_only loading refuses it: the allow-list is what makes it work
        torch.load(path, weights_only=True)
    loaded = load_checkpoint(path)
    assert loaded["best_performance"] == 12.5 and type(loaded["best_performance"]) is float
    assert loaded["curr_lr"] == 0.5 and type(loaded["curr_lr"]) is float
    assert torch.equal(loaded["model"]["critic_linear.weight"], torch.ones(1, 4))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_bad_files_raise_one_line_checkpoint_error(tmp_path):
    good = save_checkpoint(make_cfg(tmp_path), 0, ckpt(1), 1, 1)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(open(good, "rb").read()[:100])
    foreign = tmp_path / "foreign.pth"
    foreign.write_text("not a checkpoint at all")
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"x": Evil()}, str(unsafe))
    for path in (truncated, foreign, unsafe, tmp_path / "missing.pth"):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(str(path))
        msg = str(info.value)
        assert str(path) in msg and "\n" not in msg, msg
    not_a_dict = tmp_path / "list.pth"
    torch.save([1, 2], str(not_a_dict))
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_checkpoint(str(not_a_dict))
