"""SyncSamplingAPI, convert_space and Timing: the small public pieces user scripts import."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np

from sample_factory.algo.sampling.sync_sampling_api import SyncSamplingAPI
from sample_factory.algo.utils.env_info import obtain_env_info
from sample_factory.algo.utils.gymnasium_utils import convert_space
from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
from sample_factory.utils.timing import Timing


def test_sync_sampling_api_collects_aligned_trajectories(tmp_path):
    argv = [
        "--env=CartPole-v1",
        f"--train_dir={tmp_path}",
        "--num_workers=2",
        "--num_envs_per_worker=2",
        "--rollout=16",
        "--use_rnn=False",
        "--device=cpu",
        "--decorrelate_envs_on_one_worker=False",
    ]
    parser, _ = parse_sf_args(argv)
    cfg = parse_full_cfg(parser, argv)
    cfg.recurrence = 1
    api = SyncSamplingAPI(cfg, obtain_env_info(cfg))
    api.start()
    try:
        total = 0
        for _ in range(3):
            traj = api.get_trajectories_sync()
            B = traj["rewards"].shape[0]
            assert traj["obs"]["obs"].shape == (B, 17, 4) and traj["actions"].shape == (B, 16)
            assert (traj["rewards"] == 1.0).all()  # CartPole pays 1 per step
            assert (traj["policy_id"] == 0).all()
            total += B
        assert total >= 4
    finally:
        api.stop()


def test_convert_space_from_duck_typed_legacy_spaces():
    class Box:  # stands in for a legacy gym space (not a gymnasium.Space)
        low, high, dtype = np.zeros(2), np.ones(2), np.float32

    class Discrete:
        n = 3

    class Tuple:
        spaces = (Box(), Discrete())

    converted = convert_space(Tuple())
    assert isinstance(converted, gym.spaces.Tuple)
    assert converted.spaces[0].shape == (2,) and converted.spaces[1].n == 3
    same = gym.spaces.Discrete(4)
    assert convert_space(same) is same


def test_timing_accumulates():
    t = Timing("x")
    for _ in range(2):
        with t.add_time("a"):
            time.sleep(0.01)
    with t.timeit("b"):
        time.sleep(0.01)
    assert t["a"] >= 0.02 and 0.01 <= t["b"] < t["a"] and str(t).startswith("x: ")
