"""Raw simulator ceilings (random actions, no learning): how many env frames/s the simulators alone give here.

    python benchmarks/env_ceilings.py                    # every case, 10 s each
    python benchmarks/env_ceilings.py --cases ale_bare ale_stack --seconds 20
    python benchmarks/env_ceilings.py --cases envpool_pong --envpool_threads 1 2 --envpool_envs 16

Cases: ale_bare (ALE Pong, frameskip 1, one core), ale_bare_rgb (same with RGB frames), ale_stack (our full
Atari wrapper stack through `make_atari_env`, one core; frames = agent steps x 4), envpool_pong (EnvPool Pong-v5
with N threads, synchronous batches; frames = steps x 4), mujoco (gymnasium Hopper-v5 steps/s, one core),
envpool_mujoco (EnvPool Hopper-v5 batch). Prints one line per case and, with --json, a JSON list.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _timed(step: Callable[[], int], seconds: float) -> tuple[float, int]:
    """Call `step` (returns frames done) until `seconds` pass; returns (frames/s, frames)."""
    frames, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            frames += step()
    return frames / elapsed, frames


def ale_bare(seconds: float, obs_type: str = "grayscale") -> dict:
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.0, obs_type=obs_type)
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(6)))
        if terminated or truncated:
            env.reset()
        return 1

    fps, frames = _timed(step, seconds)
    return {"case": f"ale_bare_{obs_type}", "frames_per_s": fps, "frames": frames}


def ale_stack(seconds: float) -> dict:
    from sf_examples.atari.atari_utils import make_atari_env

    env = make_atari_env("atari_pong", None, {"worker_index": 0, "vector_index": 0}, None)
    env.reset()
    rng = np.random.default_rng(0)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(6)))
        if terminated or truncated:
            env.reset()
        return 4

    fps, frames = _timed(step, seconds)
    return {"case": "ale_stack", "frames_per_s": fps, "frames": frames}


def envpool_pong(seconds: float, num_envs: int, num_threads: int) -> dict:
    from sample_factory.utils.attr_dict import AttrDict
    from sf_examples.envpool.atari.envpool_atari_utils import make_envpool_atari_env

    cfg = AttrDict(
        env_agents=num_envs,
        envpool_num_threads=num_threads,
        envpool_thread_affinity_offset=-1,
        env_frameskip=4,
        env_framestack=4,
    )
    env = make_envpool_atari_env("atari_pong", cfg, None)
    env.reset()
    rng = np.random.default_rng(0)

    def step() -> int:
        env.step(rng.integers(0, 6, size=num_envs))
        return 4 * num_envs

    fps, frames = _timed(step, seconds)
    return {"case": f"envpool_pong_{num_envs}envs_{num_threads}threads", "frames_per_s": fps, "frames": frames}


def mujoco(seconds: float) -> dict:
    from sf_examples.mujoco.mujoco_utils import make_mujoco_env

    env = make_mujoco_env("mujoco_hopper")
    env.reset(seed=0)
    env.action_space.seed(0)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
        return 1

    fps, frames = _timed(step, seconds)
    return {"case": "mujoco_hopper", "frames_per_s": fps, "frames": frames}


def envpool_mujoco(seconds: float, num_envs: int, num_threads: int) -> dict:
    import envpool

    from sf_examples.envpool.envpool_wrappers import EnvPoolBatchedEnv

    pool = envpool.make("Hopper-v5", env_type="gymnasium", num_envs=num_envs, num_threads=num_threads)
    env = EnvPoolBatchedEnv(pool, obs_dtype=np.float32)
    env.reset()
    rng = np.random.default_rng(0)

    def step() -> int:
        env.step(rng.uniform(-1, 1, size=(num_envs, 3)))
        return num_envs

    fps, frames = _timed(step, seconds)
    return {"case": f"envpool_hopper_{num_envs}envs_{num_threads}threads", "frames_per_s": fps, "frames": frames}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    all_cases = ["ale_bare", "ale_bare_rgb", "ale_stack", "envpool_pong", "mujoco", "envpool_mujoco"]
    p.add_argument("--cases", nargs="*", default=all_cases, choices=all_cases)
    p.add_argument("--seconds", type=float, default=10.0, help="measuring time per case (keep it <= 30)")
    p.add_argument("--envpool_envs", type=int, default=16)
    p.add_argument("--envpool_threads", type=int, nargs="*", default=[1, os.cpu_count() or 1])
    p.add_argument("--json", type=str, default=None, help="also write the results to this file")
    args = p.parse_args(argv)

    results: list[dict] = []
    for case in args.cases:
        num_before = len(results)
        if case == "ale_bare":
            results.append(ale_bare(args.seconds))
        elif case == "ale_bare_rgb":
            results.append(ale_bare(args.seconds, obs_type="rgb"))
        elif case == "ale_stack":
            results.append(ale_stack(args.seconds))
        elif case == "envpool_pong":
            results += [envpool_pong(args.seconds, args.envpool_envs, t) for t in sorted(set(args.envpool_threads))]
        elif case == "mujoco":
            results.append(mujoco(args.seconds))
        elif case == "envpool_mujoco":
            results += [envpool_mujoco(args.seconds, args.envpool_envs, t) for t in sorted(set(args.envpool_threads))]
        for r in results[num_before:]:
            print(f"{r['case']:<40} {r['frames_per_s']:>12,.0f} frames/s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
