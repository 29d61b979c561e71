"""Raw simulator ceilings (random actions, no learning, no model): how many env frames/s the simulators alone give here.

Owns the simulator-only measurements that the side-by-side training figures are compared with (issue 6).

    python benchmarks/env_ceilings.py                                  # the Pong cases, 10 s each
    python benchmarks/env_ceilings.py --cases ale_bare ale_stack --procs 1 2 --seconds 20
    python benchmarks/env_ceilings.py --cases envpool_pong envpool_pong_async --envpool_envs 16 --envpool_threads 1 2
    python benchmarks/env_ceilings.py --cases mujoco envpool_mujoco

Atari frames are emulator frames: agent steps x 4 (frame skip 4 everywhere).

Single-env cases run in `--procs` forked processes at once (each its own env, started together behind a barrier;
frames/s summed), so `--procs 2` is the 2-core ceiling of one env per core:
  ale_bare      ALE Pong through ale_py.ALEInterface directly: frame_skip 4 inside the emulator, no sticky actions,
                minimal action set, one grayscale screen read per agent step (what any agent needs)
  ale_gym       gymnasium ALE/Pong-v5, frameskip 1, grayscale frames (one screen per emulator frame, as the
                max-and-skip wrapper needs); frames = emulator frames
  ale_gym_rgb   the same with RGB frames
  ale_stack     our full Atari wrapper stack, `sf_examples.atari.atari_utils.make_atari_env("atari_pong")`
  mujoco        gymnasium Hopper-v5 through `make_mujoco_env` (steps/s)
EnvPool cases use one pool of --envpool_envs envs, once per --envpool_threads value (threads = cores used):
  envpool_pong        our `make_envpool_atari_env` (EnvPoolBatchedEnv), synchronous: every step returns all envs
  envpool_pong_sync   EnvPool Pong-v5 directly with our Atari settings, synchronous (batch = all envs)
  envpool_pong_async  the same, asynchronous: send/recv with batch = --envpool_async_batch (default envs / 2)
  envpool_mujoco      EnvPool Hopper-v5 through EnvPoolBatchedEnv (steps/s)

The side-by-side `envpool_pong` preset runs 2 workers, each one pool of 16 envs on min(16, cores) threads.
Prints one line per measurement and, with --json, a JSON list. Check the load average it prints first: other jobs
on the machine only lower these figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A step function does one agent step (or one batch) with random actions and returns the frames it produced.
StepFn = Callable[[], int]

ATARI_FRAMESKIP = 4


def _timed(step: StepFn, seconds: float) -> tuple[float, int, float]:
    """Calls `step` until `seconds` pass; returns (frames/s, frames, elapsed seconds)."""
    frames, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            frames += step()
    return frames / elapsed, frames, elapsed


# ----------------------------------------------------------------------------------------------------------------------
# Single-env makers: each builds its env (untimed) and returns the step function
# ----------------------------------------------------------------------------------------------------------------------


def make_ale_bare(seed: int) -> StepFn:
    """ALEInterface with frame_skip 4 in the emulator and a grayscale screen read per agent step."""
    import ale_py
    from ale_py import roms

    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setInt("random_seed", seed)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.setInt("frame_skip", ATARI_FRAMESKIP)
    ale.loadROM(roms.get_rom_path("pong"))
    actions = ale.getMinimalActionSet()
    screen = np.empty(ale.getScreenDims(), dtype=np.uint8)
    rng = np.random.default_rng(seed)

    def step() -> int:
        ale.act(actions[int(rng.integers(len(actions)))])
        ale.getScreenGrayscale(screen)
        if ale.game_over():
            ale.reset_game()
        return ATARI_FRAMESKIP

    return step


def _make_ale_gym(seed: int, obs_type: str) -> StepFn:
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.0, obs_type=obs_type)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(6)))
        if terminated or truncated:
            env.reset()
        return 1

    return step


def make_ale_gym(seed: int) -> StepFn:
    return _make_ale_gym(seed, "grayscale")


def make_ale_gym_rgb(seed: int) -> StepFn:
    return _make_ale_gym(seed, "rgb")


def make_ale_stack(seed: int) -> StepFn:
    """Our Atari env exactly as a rollout worker builds it (worker `seed`, slot 0)."""
    from sf_examples.atari.atari_utils import make_atari_env

    env = make_atari_env("atari_pong", None, {"worker_index": seed, "vector_index": 0}, None)
    env.reset()
    rng = np.random.default_rng(seed)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(6)))
        if terminated or truncated:
            env.reset()
        return ATARI_FRAMESKIP

    return step


def make_mujoco(seed: int) -> StepFn:
    from sf_examples.mujoco.mujoco_utils import make_mujoco_env

    env = make_mujoco_env("mujoco_hopper")
    env.reset(seed=seed)
    env.action_space.seed(seed)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
        return 1

    return step


SINGLE_ENV_CASES: dict[str, Callable[[int], StepFn]] = {
    "ale_bare": make_ale_bare,
    "ale_gym": make_ale_gym,
    "ale_gym_rgb": make_ale_gym_rgb,
    "ale_stack": make_ale_stack,
    "mujoco": make_mujoco,
}


def _proc_main(case: str, seed: int, seconds: float, barrier: Any, results: Any) -> None:
    try:
        step = SINGLE_ENV_CASES[case](seed)
        step()  # first step outside the timing (lazy allocations)
        barrier.wait(timeout=300)
        fps, frames, elapsed = _timed(step, seconds)
        results.put({"seed": seed, "frames_per_s": fps, "frames": frames, "elapsed_s": elapsed})
    except Exception as e:  # reported by the parent
        barrier.abort()
        results.put({"seed": seed, "error": f"{type(e).__name__}: {e}"})


def run_single_env_case(case: str, seconds: float, procs: int) -> dict[str, Any]:
    """`procs` forked processes, one env each, timed together; frames/s is the sum over processes.

    Forked, not spawned: the children import the simulator themselves, and `main` runs these cases before any
    EnvPool case, while this process has imported nothing but numpy.
    """
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs)
    results = ctx.Queue()
    workers = [ctx.Process(target=_proc_main, args=(case, i, seconds, barrier, results)) for i in range(procs)]
    for w in workers:
        w.start()
    outs: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds + 600
    while len(outs) < procs:
        try:
            outs.append(results.get(timeout=1.0))
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for w in workers:
                    w.kill()
                why = f"exit code {dead[0].exitcode}" if dead else "timed out"
                raise RuntimeError(f"{case}: a measuring process failed ({why})") from None
    for w in workers:
        w.join(timeout=60)
    # the first process to fail breaks the barrier for the others: report its error, not theirs
    errors = sorted((o["error"] for o in outs if "error" in o), key=lambda e: e.startswith("BrokenBarrierError"))
    if errors:
        raise RuntimeError(f"{case}: {errors[0]}")
    return {
        "case": f"{case}_{procs}proc",
        "frames_per_s": sum(o["frames_per_s"] for o in outs),
        "frames": sum(o["frames"] for o in outs),
        "per_process_frames_per_s": [round(o["frames_per_s"], 1) for o in outs],
    }


# ----------------------------------------------------------------------------------------------------------------------
# EnvPool: one pool, N threads, in this process
# ----------------------------------------------------------------------------------------------------------------------


def envpool_atari_kwargs(num_envs: int, num_threads: int, batch_size: int) -> dict[str, Any]:
    """The Atari settings `sf_examples.envpool.atari.envpool_atari_utils.make_envpool_atari_env` gives EnvPool."""
    from sf_examples.envpool.atari.envpool_atari_utils import envpool_atari_settings

    return dict(
        num_envs=num_envs,
        batch_size=batch_size,
        num_threads=num_threads,
        seed=0,
        **envpool_atari_settings("atari_pong", ATARI_FRAMESKIP, 4),
    )


def envpool_pong_wrapped(seconds: float, num_envs: int, num_threads: int) -> dict[str, Any]:
    from sample_factory.utils.attr_dict import AttrDict
    from sf_examples.envpool.atari.envpool_atari_utils import make_envpool_atari_env

    cfg = AttrDict(
        env_agents=num_envs,
        envpool_num_threads=num_threads,
        envpool_thread_affinity_offset=-1,
        env_frameskip=ATARI_FRAMESKIP,
        env_framestack=4,
    )
    env = make_envpool_atari_env("atari_pong", cfg, None)
    env.reset()
    rng = np.random.default_rng(0)

    def step() -> int:
        env.step(rng.integers(0, 6, size=num_envs))
        return ATARI_FRAMESKIP * num_envs

    fps, frames, _ = _timed(step, seconds)
    env.close()
    return {"case": f"envpool_pong_{num_envs}envs_{num_threads}threads", "frames_per_s": fps, "frames": frames}


def envpool_pong_sync(seconds: float, num_envs: int, num_threads: int) -> dict[str, Any]:
    import envpool

    pool = envpool.make("Pong-v5", env_type="gymnasium", **envpool_atari_kwargs(num_envs, num_threads, num_envs))
    pool.reset()
    rng = np.random.default_rng(0)

    def step() -> int:  # EnvPool resets a finished env on its next step by itself
        pool.step(rng.integers(0, 6, size=num_envs, dtype=np.int32))
        return ATARI_FRAMESKIP * num_envs

    fps, frames, _ = _timed(step, seconds)
    pool.close()
    return {"case": f"envpool_pong_sync_{num_envs}envs_{num_threads}threads", "frames_per_s": fps, "frames": frames}


def envpool_pong_async(seconds: float, num_envs: int, num_threads: int, batch_size: int) -> dict[str, Any]:
    import envpool

    pool = envpool.make("Pong-v5", env_type="gymnasium", **envpool_atari_kwargs(num_envs, num_threads, batch_size))
    pool.async_reset()
    rng = np.random.default_rng(0)
    env_id = pool.recv()[-1]["env_id"]

    def step() -> int:
        nonlocal env_id
        pool.send(rng.integers(0, 6, size=len(env_id), dtype=np.int32), env_id)
        env_id = pool.recv()[-1]["env_id"]
        return ATARI_FRAMESKIP * len(env_id)

    fps, frames, _ = _timed(step, seconds)
    pool.close()
    return {
        "case": f"envpool_pong_async_{num_envs}envs_batch{batch_size}_{num_threads}threads",
        "frames_per_s": fps,
        "frames": frames,
    }


def envpool_mujoco(seconds: float, num_envs: int, num_threads: int) -> dict[str, Any]:
    import envpool

    from sf_examples.envpool.envpool_wrappers import EnvPoolBatchedEnv

    pool = envpool.make("Hopper-v5", env_type="gymnasium", num_envs=num_envs, num_threads=num_threads)
    env = EnvPoolBatchedEnv(pool, obs_dtype=np.float32)
    env.reset()
    rng = np.random.default_rng(0)

    def step() -> int:
        env.step(rng.uniform(-1, 1, size=(num_envs, 3)))
        return num_envs

    fps, frames, _ = _timed(step, seconds)
    return {"case": f"envpool_hopper_{num_envs}envs_{num_threads}threads", "frames_per_s": fps, "frames": frames}


POOL_CASES = ("envpool_pong", "envpool_pong_sync", "envpool_pong_async", "envpool_mujoco")
PONG_CASES = ["ale_bare", "ale_stack", "envpool_pong", "envpool_pong_sync", "envpool_pong_async"]
ALL_CASES = [*SINGLE_ENV_CASES, *POOL_CASES]


def run_pool_case(case: str, seconds: float, num_envs: int, num_threads: int, async_batch: int) -> dict[str, Any]:
    if case == "envpool_pong":
        return envpool_pong_wrapped(seconds, num_envs, num_threads)
    if case == "envpool_pong_sync":
        return envpool_pong_sync(seconds, num_envs, num_threads)
    if case == "envpool_pong_async":
        return envpool_pong_async(seconds, num_envs, num_threads, async_batch)
    if case == "envpool_mujoco":
        return envpool_mujoco(seconds, num_envs, num_threads)
    raise ValueError(f"unknown case {case!r}")


def format_result(r: dict[str, Any]) -> str:
    """One output line: case, rate and unit (steps/s for MuJoCo), per-process rates when there are several."""
    unit = "steps/s" if "mujoco" in r["case"] or "hopper" in r["case"] else "frames/s"
    per_proc = r.get("per_process_frames_per_s", [])
    extra = f"  (per process: {', '.join(f'{x:,.0f}' for x in per_proc)})" if len(per_proc) > 1 else ""
    return f"{r['case']:<48} {r['frames_per_s']:>12,.0f} {unit}{extra}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ncpu = os.cpu_count() or 1
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", default=PONG_CASES, choices=ALL_CASES, help="default: the Pong cases")
    p.add_argument("--seconds", type=float, default=10.0, help="measuring time per measurement (keep it <= 30)")
    p.add_argument("--procs", type=int, nargs="+", default=sorted({1, min(2, ncpu)}), help="single-env cases")
    p.add_argument("--envpool_envs", type=int, default=16)
    p.add_argument("--envpool_threads", type=int, nargs="+", default=sorted({1, min(2, ncpu)}))
    p.add_argument("--envpool_async_batch", type=int, default=None, help="async batch (default envs // 2)")
    p.add_argument("--json", type=str, default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    if args.envpool_async_batch is None:
        args.envpool_async_batch = max(1, args.envpool_envs // 2)
    if not 1 <= args.envpool_async_batch <= args.envpool_envs:
        p.error("--envpool_async_batch must be between 1 and --envpool_envs")
    if min(args.procs) < 1 or min(args.envpool_threads) < 1:
        p.error("--procs and --envpool_threads must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"# {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
        f"{args.seconds:g} s per measurement",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    # Single-env cases first: they fork, which is safest before this process has run EnvPool threads or torch.
    cases = [c for c in args.cases if c in SINGLE_ENV_CASES] + [c for c in args.cases if c not in SINGLE_ENV_CASES]
    for case in cases:
        single = case in SINGLE_ENV_CASES
        for n in sorted(set(args.procs if single else args.envpool_threads)):
            if single:
                r = run_single_env_case(case, args.seconds, n)
            else:
                r = run_pool_case(case, args.seconds, args.envpool_envs, n, args.envpool_async_batch)
            r["seconds"] = args.seconds
            results.append(r)
            print(format_result(r), flush=True)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
