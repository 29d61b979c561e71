"""Toy envs for the learning tests, a training entry point for them, and a helper that runs a training subprocess.

    python tests/support/learning_envs.py --env=memory_cue --experiment=x --train_dir=/tmp/td --device=cpu

Envs: `memory_cue` (needs memory), `continuous_target` (Box actions), `hybrid_target` (Tuple(Discrete, Box)).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from queue import Empty, Queue
from typing import Any

import gymnasium as gym
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

THIS_SCRIPT = os.path.abspath(__file__)


class MemoryCueEnv(gym.Env):
    """A cue bit (+1/-1) is shown only at step 0; at the last of `length` steps the agent is paid 1 for repeating it.

    Obs: [cue at step 0 else 0, is_first_step, is_last_step]. Observations after step 0 are the same for both cues,
    so a policy without memory gets 0.5 on average and a recurrent one can get 1.0.
    """

    def __init__(self, length: int = 4) -> None:
        self.length = length
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.cue = 0
        self.t = 0

    def _obs(self) -> np.ndarray:
        first = self.t == 0
        return np.array(
            [(1.0 if self.cue == 1 else -1.0) if first else 0.0, float(first), float(self.t == self.length - 1)],
            dtype=np.float32,
        )

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.cue = int(self.np_random.integers(2))
        self.t = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        last = self.t == self.length - 1
        reward = float(int(action) == self.cue) if last else 0.0
        self.t += 1
        obs = np.zeros(3, np.float32) if last else self._obs()
        return obs, reward, last, False, {}


class ContinuousTargetEnv(gym.Env):
    """Obs: a target in [-1, 1] (a new one every step); action: Box(1); reward -(action - target)^2 (action clipped
    to [-3, 3]). `length` steps per episode. A N(0, 1) policy averages about -1.33 per step, the optimum is 0."""

    def __init__(self, length: int = 10) -> None:
        self.length = length
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.target = 0.0
        self.t = 0

    def _obs(self) -> np.ndarray:
        self.target = float(self.np_random.uniform(-1.0, 1.0))
        return np.array([self.target], np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -3.0, 3.0))
        reward = -((a - self.target) ** 2)
        self.t += 1
        return self._obs(), reward, False, self.t >= self.length, {}


class HybridTargetEnv(gym.Env):
    """Tuple(Discrete(3), Box(1)) actions. Obs: one-hot of the wanted discrete choice + a target in [-1, 1].
    Reward per step: 1 for the right choice, minus (continuous action - target)^2 (clipped to [-3, 3]).
    A random policy averages about 1/3 - 1.33 = -1.0 per step, the optimum is 1.0."""

    def __init__(self, length: int = 10) -> None:
        self.length = length
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, (1,), np.float32)))
        self.wanted = 0
        self.target = 0.0
        self.t = 0

    def _obs(self) -> np.ndarray:
        self.wanted = int(self.np_random.integers(3))
        self.target = float(self.np_random.uniform(-1.0, 1.0))
        obs = np.zeros(4, np.float32)
        obs[self.wanted] = 1.0
        obs[3] = self.target
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        discrete, continuous = action
        a = float(np.clip(np.asarray(continuous, dtype=np.float64).reshape(-1)[0], -3.0, 3.0))
        reward = float(int(discrete) == self.wanted) - (a - self.target) ** 2
        self.t += 1
        return self._obs(), reward, False, self.t >= self.length, {}


def _memory_cue(full_env_name: str, cfg: Any = None, env_config: Any = None, render_mode: str | None = None):  # noqa: ANN202
    return MemoryCueEnv()


def _continuous_target(full_env_name: str, cfg: Any = None, env_config: Any = None, render_mode: str | None = None):  # noqa: ANN202
    return ContinuousTargetEnv()


def _hybrid_target(full_env_name: str, cfg: Any = None, env_config: Any = None, render_mode: str | None = None):  # noqa: ANN202
    return HybridTargetEnv()


def register_learning_envs() -> None:
    from sample_factory.envs.env_utils import register_env

    register_env("memory_cue", _memory_cue)
    register_env("continuous_target", _continuous_target)
    register_env("hybrid_target", _hybrid_target)


def main() -> int:
    from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
    from sample_factory.train import run_rl

    register_learning_envs()
    parser, _ = parse_sf_args()
    cfg = parse_full_cfg(parser)
    return int(run_rl(cfg))


# ------------------------------------------------------------------ running a training in a subprocess

AVG_REWARD_RE = re.compile(r"Avg episode reward: \[\(0, '([^']+)'\)")


@dataclass
class TrainingRun:
    returncode: int | None
    rewards: list[float] = field(default_factory=list)  # every "Avg episode reward" of policy 0, in order
    output: str = ""
    seconds: float = 0.0
    stopped_early: bool = False

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-n:])


def run_training(
    module_or_script: str,
    args: list[str],
    stop_at_reward: float | None = None,
    timeout: float = 180.0,
    cwd: str | None = None,
) -> TrainingRun:
    """Run `python -m module` (or a script path ending in .py) with `args`, parse the console's average rewards.

    With `stop_at_reward`, the run gets SIGINT (it saves and exits with status 2) as soon as a printed average
    reaches it, which keeps learning tests short. Each training is limited to one torch thread (OMP_NUM_THREADS=1):
    on a shared 2-core machine, torch's default of 2 threads per process makes small forward passes ~3x slower.
    """
    target = [module_or_script] if module_or_script.endswith(".py") else ["-m", module_or_script]
    cmd = [sys.executable, *target, *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        start_new_session=True,
    )
    run = TrainingRun(returncode=None)
    lines: list[str] = []
    queue: Queue[str | None] = Queue()

    def _reader() -> None:
        assert proc.stdout is not None
        for out_line in proc.stdout:
            queue.put(out_line)
        queue.put(None)

    threading.Thread(target=_reader, daemon=True).start()
    deadline = t0 + timeout
    try:
        while True:
            try:
                line = queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except Empty:
                lines.append(f"\n[run_training] timeout after {timeout:.0f} s: killing the run\n")
                break
            if line is None:
                break
            lines.append(line)
            m = AVG_REWARD_RE.search(line)
            if m:
                value = float(m.group(1))
                run.rewards.append(value)
                if stop_at_reward is not None and value >= stop_at_reward and not run.stopped_early:
                    run.stopped_early = True
                    proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20.0)
        except subprocess.TimeoutExpired:
            pass
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    run.returncode = proc.returncode
    run.output = "".join(lines)
    run.seconds = time.monotonic() - t0
    return run


if __name__ == "__main__":
    sys.exit(main())
