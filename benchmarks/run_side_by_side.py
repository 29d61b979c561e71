"""Side-by-side benchmark: runs the same training command with ours and upstream Sample Factory 2.1.1, alternating.

Owns: the console-log parser (frames/s, reward, start-up), the reader of the runs' TensorBoard reward summaries (when
the average reward first reached the target), the process-tree memory sampler, and the run loop that writes a markdown
table to stdout and all raw numbers to a JSON file. Run `--help` for options; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_PYTHON = REPO_ROOT / ".upstream_venv" / "bin" / "python"

PRESETS: dict[str, list[str]] = {
    "cartpole_tuned": [
        "-m",
        "sf_examples.train_gym_env",
        "--env=CartPole-v1",
        "--device=cpu",
        "--use_rnn=False",
        "--recurrence=1",
        "--num_envs_per_worker=20",
        "--policy_workers_per_policy=2",
        "--with_vtrace=False",
        "--batch_size=512",
        "--reward_scale=0.1",
    ],
    "cartpole_default": ["-m", "sf_examples.train_gym_env", "--env=CartPole-v1", "--device=cpu"],
    # Atari Pong through ale-py, sized for 2 cores: the settings of our Pong learning run and of upstream's
    # "930 frames/s (learner-bound)" reference figure (Atari defaults otherwise: 8 workers x 1 env, synchronous).
    "atari_pong": [
        "-m",
        "sf_examples.atari.train_atari",
        "--env=atari_pong",
        "--device=cpu",
        "--num_workers=2",
        "--num_envs_per_worker=4",
        "--async_rl=True",
    ],
    # Atari Pong through EnvPool, sized for 2 cores (both frameworks' EnvPool Atari defaults are 4 workers x 64 envs,
    # batched, asynchronous). No --envpool_num_threads: upstream's EnvPool Atari script rejects it ("unrecognized
    # arguments") and passes no num_threads to envpool.make, so EnvPool uses min(env_agents, hardware threads); ours
    # defaults to min(env_agents, cpu_count()): 2 threads per worker on both here.
    "envpool_pong": [
        "-m",
        "sf_examples.envpool.atari.train_envpool_atari",
        "--env=atari_pong",
        "--device=cpu",
        "--num_workers=2",
        "--num_envs_per_worker=1",
        "--env_agents=16",
    ],
}

# Reward target of each preset when --target is not given (Pong scores run from -21 to 21).
PRESET_TARGETS: dict[str, float] = {"atari_pong": 0.0, "envpool_pong": 0.0}
DEFAULT_TARGET = 475.0

# Modules imported first thing in every upstream process (main and spawned workers) for a preset, by a
# `sitecustomize.py` in a directory put on upstream's PYTHONPATH. ale-py 0.9.1 registers its ALE/* ids in gymnasium
# 0.29 only when imported, and upstream's Atari example never imports it (its documented command waits forever).
UPSTREAM_PRELOAD: dict[str, tuple[str, ...]] = {"atari_pong": ("ale_py",)}

# Extra modules each preset imports, warmed before the first timed run, and packages whose versions are recorded.
PRESET_MODULES: dict[str, tuple[str, ...]] = {"atari_pong": ("ale_py", "cv2"), "envpool_pong": ("envpool",)}
PRESET_PACKAGES: dict[str, tuple[str, ...]] = {"atari_pong": ("ale-py",), "envpool_pong": ("envpool",)}

# Checked in upstream's interpreter before its first run of a preset (what `setup_upstream.sh --atari` provides).
UPSTREAM_CHECKS: dict[str, str] = {
    "atari_pong": (
        "import ale_py, gymnasium\nassert 'ALE/Pong-v5' in gymnasium.registry, 'ale_py registers no ALE/Pong-v5'"
    ),
    "envpool_pong": "import envpool\nenvpool.make('Pong-v5', env_type='gym', num_envs=1).close()",
}

FRAMEWORKS = ("ours", "upstream")

# ----------------------------------------------------------------------------------------------------------------------
# Log parsing
# ----------------------------------------------------------------------------------------------------------------------

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NUM = r"(nan|-?inf|-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
_FPS_RE = re.compile(
    rf"Fps is \(10 sec: {_NUM}, 60 sec: {_NUM}, 300 sec: {_NUM}\)\.\s*Total num frames: ([0-9]+)",
    re.IGNORECASE,
)
_REWARD_RE = re.compile(r"Avg episode reward: \[(.*?)\]\s*$")
_REWARD_ITEM_RE = re.compile(r"\(\s*(\d+)\s*,\s*['\"]?" + _NUM + r"['\"]?\s*\)", re.IGNORECASE)


def strip_ansi(line: str) -> str:
    """Removes terminal colour escape sequences (both frameworks colour their console log)."""
    return _ANSI_RE.sub("", line)


@dataclasses.dataclass
class FpsReading:
    """One `Fps is (...)` console line; `t` is seconds since launch."""

    t: float
    fps10: float
    fps60: float
    fps300: float
    total_frames: int


def parse_fps_line(line: str, t: float = 0.0) -> FpsReading | None:
    """Parses `Fps is (10 sec: X, 60 sec: Y, 300 sec: Z). Total num frames: N...`; None if the line is not one."""
    m = _FPS_RE.search(strip_ansi(line))
    if m is None:
        return None
    return FpsReading(t, float(m.group(1)), float(m.group(2)), float(m.group(3)), int(m.group(4)))


def parse_reward_line(line: str) -> dict[int, float] | None:
    """Parses `Avg episode reward: [(0, '475.123'), (1, '12.0')]` into {policy_id: reward}; None if not such a line."""
    m = _REWARD_RE.search(strip_ansi(line).rstrip())
    if m is None:
        return None
    items = _REWARD_ITEM_RE.findall(m.group(1))
    return {int(pid): float(val) for pid, val in items}


@dataclasses.dataclass
class LogParser:
    """Incremental console parser: feed (line, seconds since launch) pairs, then call `summary()`."""

    target_reward: float = 475.0
    fps_readings: list[FpsReading] = dataclasses.field(default_factory=list)
    rewards: list[tuple[float, float, int]] = dataclasses.field(default_factory=list)  # (t, best reward, frames)
    first_fps_line_t: float | None = None  # first Fps line at all (often `nan`: workers ready, no window yet)
    first_numeric_fps_t: float | None = None
    first_frames_t: float | None = None  # first Fps line whose total frame count is above 0
    target_t: float | None = None
    target_frames: int | None = None
    last_frames: int = 0

    def feed(self, line: str, t: float) -> None:
        """Consumes one console line read `t` seconds after launch."""
        fps = parse_fps_line(line, t)
        if fps is not None:
            self.fps_readings.append(fps)
            self.last_frames = max(self.last_frames, fps.total_frames)
            if self.first_fps_line_t is None:
                self.first_fps_line_t = t
            if self.first_numeric_fps_t is None and math.isfinite(fps.fps10):
                self.first_numeric_fps_t = t
            if self.first_frames_t is None and fps.total_frames > 0:
                self.first_frames_t = t
            return
        rewards = parse_reward_line(line)
        if rewards:
            finite = [r for r in rewards.values() if math.isfinite(r)]
            if not finite:
                return
            best = max(finite)  # the best policy decides (one policy in the presets)
            self.rewards.append((t, best, self.last_frames))
            if self.target_t is None and best >= self.target_reward:
                self.target_t = t
                self.target_frames = self.last_frames

    @property
    def target_reached(self) -> bool:
        return self.target_t is not None

    def summary(self, warmup_s: float = 10.0) -> dict[str, Any]:
        """Figures for one run; see `steady_fps` for the warm-up rule."""
        numeric = [r for r in self.fps_readings if math.isfinite(r.fps10)]
        return {
            "steady_fps": steady_fps(self.fps_readings, warmup_s),
            "mean_fps_after_warmup": mean_fps_after_warmup(self.fps_readings, warmup_s),
            "max_fps10": max((r.fps10 for r in numeric), default=None),
            "num_fps_readings": len(numeric),
            "startup_s": self.first_numeric_fps_t,
            "first_fps_line_s": self.first_fps_line_t,
            "first_frames_s": self.first_frames_t,
            "time_to_target_s": self.target_t,
            "frames_at_target": self.target_frames,
            "final_frames": self.last_frames,
            "best_reward": max((r for _, r, _ in self.rewards), default=None),
            "last_reward": self.rewards[-1][1] if self.rewards else None,
        }


def _steady_readings(readings: Sequence[FpsReading], warmup_s: float) -> list[FpsReading]:
    numeric = [r for r in readings if math.isfinite(r.fps10)]
    if not numeric:
        return []
    # Numeric readings before any frame was counted (`10 sec: 0.0`, total 0: Pong's first rollouts, the first
    # training step) are start-up, not throughput: the window is counted from the first reading with frames.
    first_with_frames = next((i for i, r in enumerate(numeric) if r.total_frames > 0), 0)
    numeric = numeric[first_with_frames:]
    t0 = numeric[0].t
    steady = [r for r in numeric if r.t - t0 >= warmup_s]
    if not steady:  # a short run: drop only the first (partial-window) reading when there is more than one
        steady = numeric[1:] or numeric
    return steady


def steady_fps(readings: Sequence[FpsReading], warmup_s: float = 10.0) -> float | None:
    """Median of the 10-second FPS values logged at least `warmup_s` after the first numeric one with frames.

    With no reading that late, the median of all numeric readings but the first; None with no numeric reading.
    """
    steady = _steady_readings(readings, warmup_s)
    return statistics.median(r.fps10 for r in steady) if steady else None


def mean_fps_after_warmup(readings: Sequence[FpsReading], warmup_s: float = 10.0) -> float | None:
    """Frames gained / time elapsed between the last reading before the steady window and the last reading."""
    numeric = [r for r in readings if math.isfinite(r.fps10)]
    steady = _steady_readings(readings, warmup_s)
    if not steady:
        return None
    before = [r for r in numeric if r.t < steady[0].t]
    start = before[-1] if before else steady[0]
    end = steady[-1]
    if end.t <= start.t:
        return None
    return (end.total_frames - start.total_frames) / (end.t - start.t)


_SAVED_LINE_RE = re.compile(r"^\[\s*([0-9]+(?:\.[0-9]*)?)\] (.*)$")


def parse_saved_log(lines: Iterable[str], target: float = 475.0, warmup_s: float = 10.0) -> dict[str, Any]:
    """Re-analyses a log written by `run_once` (each line prefixed `[seconds since launch] `), e.g. another target."""
    parser = LogParser(target_reward=target)
    for raw in lines:
        m = _SAVED_LINE_RE.match(raw.rstrip("\n"))
        if m is not None:
            parser.feed(m.group(2), float(m.group(1)))
    return parser.summary(warmup_s)


# ----------------------------------------------------------------------------------------------------------------------
# TensorBoard reward summaries
# ----------------------------------------------------------------------------------------------------------------------

REWARD_SUMMARY_TAG = "reward/reward"  # both frameworks: the mean of the last `stats_avg` episodes, per policy

Scalars = dict[str, list[tuple[float, int, float]]]  # tag -> [(wall time, env steps, value)], all policies


def read_scalar_summaries(experiment_dir: str | Path) -> Scalars:
    """Every scalar under `<experiment_dir>/.summary/<policy>/events*`, by tag, each list sorted by wall time; {} when
    there are none or TensorBoard's reader is not installed."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return {}
    out: Scalars = {}
    for path in sorted(Path(experiment_dir).glob(".summary/*/events*")):
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            out.setdefault(tag, []).extend((e.wall_time, int(e.step), float(e.value)) for e in acc.Scalars(tag))
    return {tag: sorted(points) for tag, points in out.items()}


def summary_figures(scalars: Scalars, target: float, launched_at: float) -> dict[str, Any]:
    """From a run's summaries (`launched_at`: its launch, epoch seconds): when the summarised average reward first
    reached `target` (seconds after launch, env steps; None for both when it never did), how many reward points
    there were (0: nothing to judge), and the first summary of any tag written at env steps > 0 (seconds after
    launch: training had begun; None when there is none)."""
    points = scalars.get(REWARD_SUMMARY_TAG, [])
    hit = next((p for p in points if math.isfinite(p[2]) and p[2] >= target), None)
    with_frames = [p[0] for ps in scalars.values() for p in ps if p[1] > 0]
    return {
        "summary_time_to_target_s": None if hit is None else round(hit[0] - launched_at, 3),
        "summary_frames_at_target": None if hit is None else hit[1],
        "summary_points": len(points),
        "summary_first_frames_s": round(min(with_frames) - launched_at, 3) if with_frames else None,
    }


# ----------------------------------------------------------------------------------------------------------------------
# Process-tree memory
# ----------------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class MemSample:
    """Memory of a whole process tree at one instant, in bytes. `uss`/`pss` are None where the OS does not give them."""

    t: float
    num_procs: int
    rss: int
    uss: int | None
    pss: int | None

    def primary(self) -> tuple[str, int]:
        """PSS (shared pages split between their users) when available, else USS, else RSS (double counts)."""
        if self.pss is not None:
            return "pss", self.pss
        if self.uss is not None:
            return "uss", self.uss
        return "rss", self.rss


def sum_tree_memory(procs: Iterable[Any], t: float = 0.0) -> MemSample:
    """Sums RSS/USS/PSS over psutil-like processes; vanished or inaccessible processes are skipped.

    USS and PSS are reported only if every counted process gives them (else a partial sum would mislead).
    """
    import psutil

    rss, uss, pss, n = 0, 0, 0, 0
    have_uss, have_pss = True, True
    for p in procs:
        try:
            try:
                info = p.memory_full_info()
            except psutil.AccessDenied:
                info = p.memory_info()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, ProcessLookupError, psutil.AccessDenied):
            continue
        n += 1
        rss += int(info.rss)
        u, s = getattr(info, "uss", None), getattr(info, "pss", None)
        if u is None:
            have_uss = False
        else:
            uss += int(u)
        if s is None:
            have_pss = False
        else:
            pss += int(s)
    return MemSample(t, n, rss, uss if have_uss and n else None, pss if have_pss and n else None)


def process_tree(root_pid: int) -> list[Any]:
    """The root process and all its descendants (psutil.Process objects); empty when the root is gone."""
    import psutil

    try:
        root = psutil.Process(root_pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@dataclasses.dataclass
class PeakTracker:
    """Keeps the peak of each memory measure over a series of samples (peaks may come from different instants)."""

    samples: int = 0
    peak_rss: int = 0
    peak_uss: int | None = None
    peak_pss: int | None = None
    peak_procs: int = 0
    primary_metric: str | None = None
    peak_primary: int = 0

    def add(self, s: MemSample) -> None:
        if s.num_procs == 0:
            return
        self.samples += 1
        self.peak_rss = max(self.peak_rss, s.rss)
        self.peak_procs = max(self.peak_procs, s.num_procs)
        if s.uss is not None:
            self.peak_uss = max(self.peak_uss or 0, s.uss)
        if s.pss is not None:
            self.peak_pss = max(self.peak_pss or 0, s.pss)
        metric, value = s.primary()
        if self.primary_metric is None or metric == self.primary_metric:
            self.primary_metric = metric
            self.peak_primary = max(self.peak_primary, value)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class TreeMemorySampler:
    """Background thread sampling the memory of `root_pid`'s process tree every `interval` seconds."""

    def __init__(
        self,
        root_pid: int,
        interval: float = 0.5,
        t0: float | None = None,
        tree_fn: Callable[[int], list[Any]] = process_tree,
    ) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.t0 = time.monotonic() if t0 is None else t0
        self.tree_fn = tree_fn
        self.peak = PeakTracker()
        self.timeline: list[tuple[float, int, int]] = []  # (t, num_procs, primary bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mem-sampler", daemon=True)

    def sample_once(self) -> MemSample:
        s = sum_tree_memory(self.tree_fn(self.root_pid), time.monotonic() - self.t0)
        self.peak.add(s)
        if s.num_procs:
            self.timeline.append((round(s.t, 2), s.num_procs, s.primary()[1]))
        return s

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample_once()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# ----------------------------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------------------------


def python_for(framework: str) -> str:
    """The interpreter of a framework: this one for ours, the `.upstream_venv` one for upstream."""
    if framework == "ours":
        return sys.executable
    if framework == "upstream":
        return str(UPSTREAM_PYTHON)
    raise ValueError(f"unknown framework {framework!r}")


def build_command(
    framework: str,
    preset: str,
    extra_args: Sequence[str],
    frames: int,
    train_dir: str,
    experiment: str,
    summaries_interval: int | None = None,
) -> list[str]:
    """The exact argv of one run: the preset, then `--extra-args`, then stop/placement args the harness adds
    (and `--experiment_summaries_interval` when `summaries_interval` is given: an observation setting, the same for
    both frameworks, that makes their TensorBoard reward curve fine enough to time the target from)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}, choose from {sorted(PRESETS)}")
    cmd = [
        python_for(framework),
        *PRESETS[preset],
        *extra_args,
        f"--train_for_env_steps={frames}",
        f"--train_dir={train_dir}",
        f"--experiment={experiment}",
    ]
    if summaries_interval is not None:
        cmd.append(f"--experiment_summaries_interval={summaries_interval}")
    return cmd


def build_env(
    framework: str, base: dict[str, str] | None = None, upstream_pythonpath: str | None = None
) -> dict[str, str]:
    """Environment of a run; upstream needs TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 under torch >= 2.6.

    Ours gets PYTHONPATH=<repo root>; upstream gets no PYTHONPATH, or only `upstream_pythonpath` (a preload shim
    directory, see `write_preload_shim`), never the repo root: that would shadow its packages with ours.
    """
    env = dict(os.environ if base is None else base)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONPATH", None)
    if framework == "upstream":
        env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
        if upstream_pythonpath:
            env["PYTHONPATH"] = upstream_pythonpath
    else:
        env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def preload_shim_source(modules: Sequence[str]) -> str:
    """Text of a `sitecustomize.py` importing `modules`; Python runs it at start-up in every process (workers too)."""
    for m in modules:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", m):
            raise ValueError(f"not a module name: {m!r}")
    lines = ['"""Written by benchmarks/run_side_by_side.py: imports what upstream needs before it creates envs."""']
    lines += [f"import {m}  # noqa: F401" for m in modules]
    return "\n".join(lines) + "\n"


def write_preload_shim(modules: Sequence[str], directory: str | Path) -> str:
    """Writes `<directory>/sitecustomize.py` importing `modules` (and nothing else there); returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(preload_shim_source(modules))
    return str(directory)


def warm_imports(
    framework: str,
    timeout: float = 300.0,
    extra_modules: Sequence[str] = (),
    upstream_pythonpath: str | None = None,
) -> float:
    """Imports a framework's packages once, untimed, so no measured run pays for a cold page cache; returns seconds.

    The first import of torch from a cold disk can take tens of seconds on a busy machine, which would land on
    whichever framework runs first.
    """
    code = "import " + ", ".join(("torch", "numpy", "gymnasium", "sample_factory", "sf_examples", *extra_modules))
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sfbench_warm_") as cwd:
        subprocess.run(
            [python_for(framework), "-c", code],
            cwd=cwd,
            env=build_env(framework, upstream_pythonpath=upstream_pythonpath),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    return time.monotonic() - t0


def run_order(repeats: int, only: str | None) -> list[str]:
    """Alternating schedule: ours, upstream, ours, upstream, ... (`only` keeps one framework)."""
    order = []
    for _ in range(repeats):
        for fw in FRAMEWORKS:
            if only is None or fw == only:
                order.append(fw)
    return order


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_once(
    framework: str,
    cmd: list[str],
    env: dict[str, str],
    cwd: str,
    seconds: float,
    target: float,
    warmup_s: float,
    mem_interval: float,
    log_path: Path,
    stop_at_target: bool = False,
    grace_s: float = 20.0,
) -> dict[str, Any]:
    """Launches one run, follows its console and memory until it exits or `seconds` pass, returns its figures.

    Time limit or target (with `stop_at_target`): SIGINT to the main process (like Ctrl+C), SIGKILL to the
    whole process group after `grace_s`. Processes still alive in the group after the main one exits are counted
    and killed.
    """
    parser = LogParser(target_reward=target)
    load_before = _load_average()
    launched_at = time.time()
    t0 = time.monotonic()
    started_at = dt.datetime.now().isoformat(timespec="seconds")
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,
    )
    sampler = TreeMemorySampler(proc.pid, interval=mem_interval, t0=t0)
    sampler.start()

    lock = threading.Lock()

    def reader() -> None:
        assert proc.stdout is not None
        with open(log_path, "w") as log:
            for line in proc.stdout:
                t = time.monotonic() - t0
                log.write(f"[{t:9.3f}] {line}")
                with lock:
                    parser.feed(line, t)

    reader_thread = threading.Thread(target=reader, name="log-reader", daemon=True)
    reader_thread.start()

    stop_reason = "exited"
    interrupted_at = None
    while proc.poll() is None:
        elapsed = time.monotonic() - t0
        with lock:
            reached = parser.target_reached
        if interrupted_at is None and (elapsed >= seconds or (stop_at_target and reached)):
            stop_reason = "time_limit" if elapsed >= seconds else "target_reached"
            interrupted_at = elapsed
            try:
                proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
        if interrupted_at is not None and elapsed - interrupted_at > grace_s:
            stop_reason += "+killed"
            _kill_group(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    rc = proc.wait()
    wall = time.monotonic() - t0
    leftovers = process_tree_of_group(proc.pid)
    deadline = time.monotonic() + 5.0  # children may need a moment after the main process exits
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.2)
        leftovers = process_tree_of_group(proc.pid)
    if leftovers:
        _kill_group(proc.pid, signal.SIGKILL)
    sampler.stop()
    reader_thread.join(timeout=10)

    with lock:
        figures = parser.summary(warmup_s)
    return {
        "framework": framework,
        "command": shlex.join(cmd),
        "started_at": started_at,
        "launched_at_epoch": launched_at,
        "exit_code": rc,
        "stop_reason": stop_reason,
        "wall_s": round(wall, 3),
        "shutdown_s": None if interrupted_at is None else round(wall - interrupted_at, 3),
        "leftover_processes": len(leftovers),
        "load_average_before": load_before,
        "load_average_after": _load_average(),
        **figures,
        "memory": sampler.peak.as_dict(),
        "memory_timeline": sampler.timeline,
        "fps_readings": [dataclasses.astuple(r) for r in parser.fps_readings],
        "rewards": parser.rewards,
        "log": str(log_path),
    }


def process_tree_of_group(pgid: int) -> list[int]:
    """PIDs still alive in process group `pgid` (our runs start a new session, so the group holds the whole tree)."""
    import psutil

    alive = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p.pid)
        except (ProcessLookupError, psutil.NoSuchProcess, psutil.AccessDenied, PermissionError):
            continue
    return alive


# ----------------------------------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------------------------------


def _median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _median_reached(values: Iterable[float | None]) -> float | None:
    """Median of a per-run figure that is None when the run never reached the target: such a run counts as slower
    than every run that did (None when that puts the median among the misses)."""
    vals = [math.inf if v is None else v for v in values]
    if not vals:
        return None
    m = statistics.median(vals)
    return None if math.isinf(m) else m


def _fmt(v: float | None, digits: int = 0, scale: float = 1.0) -> str:
    if v is None:
        return "-"
    return f"{v / scale:,.{digits}f}"


GIB = 1024**3


def markdown_table(runs: Sequence[dict[str, Any]], target: float) -> str:
    """Per-run rows, then per-framework medians and the ours/upstream ratios."""
    metric = next((r["memory"]["primary_metric"] for r in runs if r["memory"]["primary_metric"]), "rss")
    head = (
        f"| framework | run | steady frames/s | mean frames/s | start-up s | first frames s | time to {target:g} s "
        f"| frames at {target:g} | {target:g} by summaries: s | frames | best reward | peak mem {metric.upper()} GiB "
        "| peak RSS-sum GiB | procs | exit |"
    )
    lines = [head, "|" + "---|" * 15]
    counters: dict[str, int] = {}
    for r in runs:
        counters[r["framework"]] = counters.get(r["framework"], 0) + 1
        lines.append(
            f"| {r['framework']} | {counters[r['framework']]} | {_fmt(r['steady_fps'])} "
            f"| {_fmt(r['mean_fps_after_warmup'])} | {_fmt(r['startup_s'], 1)} | {_fmt(r.get('first_frames_s'), 1)} "
            f"| {_fmt(r['time_to_target_s'], 1)} "
            f"| {_fmt(r['frames_at_target'])} | {_summary_cell(r, 'summary_time_to_target_s', 1)} "
            f"| {_summary_cell(r, 'summary_frames_at_target', 0)} | {_fmt(r['best_reward'], 1)} "
            f"| {_fmt(r['memory']['peak_primary'] or None, 2, GIB)} | {_fmt(r['memory']['peak_rss'] or None, 2, GIB)} "
            f"| {r['memory']['peak_procs']} | {r['exit_code']} ({r['stop_reason']}) |"
        )
    summary = summarize(runs)
    if summary:
        lines += [
            "",
            "| median | steady frames/s | mean frames/s | start-up s | first frames s | time to target s "
            "| first frames s (summaries) | time to target s (summaries) | peak mem GiB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for fw, s in summary["frameworks"].items():
            lines.append(
                f"| {fw} ({s['runs']} runs) | {_fmt(s['steady_fps'])} | {_fmt(s['mean_fps_after_warmup'])} "
                f"| {_fmt(s['startup_s'], 1)} | {_fmt(s['first_frames_s'], 1)} | {_fmt(s['time_to_target_s'], 1)} "
                f"({s['target_reached_runs']}/{s['runs']} reached) | {_fmt(s['summary_first_frames_s'], 1)} "
                f"| {_fmt(s['summary_time_to_target_s'], 1)} "
                f"({s['summary_reached_runs']}/{s['summary_runs']} reached) | {_fmt(s['peak_mem_bytes'], 2, GIB)} |"
            )
        if "ratios" in summary:
            ra = summary["ratios"]
            keys = ("steady_fps", "mean_fps_after_warmup", "startup_s", "first_frames_s", "time_to_target_s")
            cells = [
                _ratio(ra[k]) for k in (*keys, "summary_first_frames_s", "summary_time_to_target_s", "peak_mem_bytes")
            ]
            lines.append("| ours/upstream | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _summary_cell(run: dict[str, Any], key: str, digits: int) -> str:
    """A summaries-based figure of one run: the value, "miss" when the summaries never reached the target, "-" when
    the run has no reward summaries at all."""
    if not run.get("summary_points"):
        return "-"
    value = run.get(key)
    return "miss" if value is None else _fmt(value, digits)


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-framework medians over repeats, and ours/upstream ratios where both have a value. The summaries-based
    figures count only runs that wrote reward summaries (a run without any cannot be judged)."""
    out: dict[str, Any] = {"frameworks": {}}
    for fw in FRAMEWORKS:
        rs = [r for r in runs if r["framework"] == fw]
        if not rs:
            continue
        judged = [r for r in rs if r.get("summary_points")]
        out["frameworks"][fw] = {
            "runs": len(rs),
            "steady_fps": _median(r["steady_fps"] for r in rs),
            "mean_fps_after_warmup": _median(r["mean_fps_after_warmup"] for r in rs),
            "startup_s": _median(r["startup_s"] for r in rs),
            "first_frames_s": _median(r.get("first_frames_s") for r in rs),
            "time_to_target_s": _median_reached(r["time_to_target_s"] for r in rs),
            "frames_at_target": _median_reached(r["frames_at_target"] for r in rs),
            "peak_mem_bytes": _median(r["memory"]["peak_primary"] or None for r in rs),
            "target_reached_runs": sum(r["time_to_target_s"] is not None for r in rs),
            "summary_time_to_target_s": _median_reached(r.get("summary_time_to_target_s") for r in judged),
            "summary_frames_at_target": _median_reached(r.get("summary_frames_at_target") for r in judged),
            "summary_first_frames_s": _median(r.get("summary_first_frames_s") for r in judged),
            "summary_runs": len(judged),
            "summary_reached_runs": sum(r.get("summary_time_to_target_s") is not None for r in judged),
        }
    fws = out["frameworks"]
    if "ours" in fws and "upstream" in fws:
        ratios = {}
        for k in (
            "steady_fps",
            "mean_fps_after_warmup",
            "startup_s",
            "first_frames_s",
            "time_to_target_s",
            "summary_time_to_target_s",
            "summary_frames_at_target",
            "summary_first_frames_s",
            "peak_mem_bytes",
        ):
            a, b = fws["ours"][k], fws["upstream"][k]
            ratios[k] = a / b if a is not None and b else None
        out["ratios"] = ratios
    return out


def machine_info() -> dict[str, Any]:
    """CPU model, core count, platform, and package versions of this interpreter."""
    model = platform.processor() or "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "hostname": platform.node(),
    }


def framework_versions(python: str, extra_packages: Sequence[str] = ()) -> str:
    """`sample-factory X torch Y numpy Z gymnasium W ...` of an interpreter (run isolated, outside the repo root).

    A package that is not installed shows as `missing`.
    """
    packages = ("sample-factory", "torch", "numpy", "gymnasium", *extra_packages)
    code = (
        "import importlib.metadata as m\n"
        "def v(p):\n"
        "    try:\n"
        "        return m.version(p)\n"
        "    except m.PackageNotFoundError:\n"
        "        return 'missing'\n"
        f"print(' '.join(f'{{p}} {{v(p)}}' for p in {packages!r}))"
    )
    try:
        res = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
        return res.stdout.strip() or res.stderr.strip().splitlines()[-1]
    except (OSError, subprocess.SubprocessError, IndexError) as e:
        return f"unavailable ({e})"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cartpole_tuned")
    p.add_argument("--extra-args", default="", help="appended to the preset for both frameworks (one shell string)")
    p.add_argument("--only", choices=FRAMEWORKS, default=None, help="run one framework only")
    p.add_argument("--repeats", type=int, default=3, help="runs per framework (alternating)")
    p.add_argument("--frames", type=int, default=500_000, help="--train_for_env_steps given to both")
    p.add_argument("--seconds", type=float, default=180.0, help="wall limit per run (SIGINT, then SIGKILL)")
    p.add_argument(
        "--target",
        type=float,
        default=None,
        help=f"average episode reward to time (default: {DEFAULT_TARGET:g}; Pong presets "
        f"{', '.join(f'{k} {v:g}' for k, v in PRESET_TARGETS.items())})",
    )
    p.add_argument(
        "--summaries-interval",
        type=int,
        default=1,
        help="--experiment_summaries_interval given to both (seconds): the TensorBoard reward curve that times the "
        "target besides the console's 5-second reports; 0: leave each framework's default (10 s)",
    )
    p.add_argument("--warmup", type=float, default=10.0, help="seconds after the first numeric FPS to skip")
    p.add_argument("--mem-interval", type=float, default=0.5, help="memory sampling period, seconds")
    p.add_argument("--stop-at-target", action="store_true", help="Ctrl+C a run once it reaches the target")
    p.add_argument("--pause", type=float, default=3.0, help="seconds between runs (let the machine settle)")
    p.add_argument("--out", default=None, help="JSON path (default train_dir/benchmarks/<preset>_<time>.json)")
    p.add_argument("--keep-train-dirs", action="store_true")
    p.add_argument("--no-warm-imports", action="store_true", help="skip the untimed import of each framework first")
    p.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    p.add_argument("--reparse", nargs="+", default=None, metavar="LOG", help="re-analyse saved run logs and exit")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.target is None:
        args.target = PRESET_TARGETS.get(args.preset, DEFAULT_TARGET)
    extra = shlex.split(args.extra_args)
    preload = UPSTREAM_PRELOAD.get(args.preset, ())
    stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
    out = Path(args.out) if args.out else REPO_ROOT / "train_dir" / "benchmarks" / f"{args.preset}_{stamp}.json"
    order = run_order(args.repeats, args.only)

    if args.reparse:
        for path in args.reparse:
            with open(path) as f:
                print(path, json.dumps(parse_saved_log(f, args.target, args.warmup)))
        return 0

    if args.dry_run:
        for i, fw in enumerate(order):
            td = f"<tmp>/{fw}_{i}"
            cmd = build_command(
                fw, args.preset, extra, args.frames, td, f"bench_{fw}_{i}", args.summaries_interval or None
            )
            if fw == "upstream":
                env_note = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 " + ("PYTHONPATH=<shim> " if preload else "")
            else:
                env_note = f"PYTHONPATH={REPO_ROOT} "
            print(f"[{i}] {fw}: cd {td} && PYTHONUNBUFFERED=1 {env_note}{shlex.join(cmd)}")
        if preload and "upstream" in order:
            print(
                "# <shim>/sitecustomize.py (upstream only):\n"
                + "".join(f"#   {line}\n" for line in preload_shim_source(preload).splitlines()),
                end="",
            )
        print(f"# limit {args.seconds:g} s per run, target {args.target:g}, results -> {out}")
        return 0

    if "upstream" in order and not UPSTREAM_PYTHON.exists():
        print(f"{UPSTREAM_PYTHON} missing: run benchmarks/setup_upstream.sh first", file=sys.stderr)
        return 2
    preset_modules = PRESET_MODULES.get(args.preset, ())
    if "upstream" in order and args.preset in UPSTREAM_CHECKS:
        problem = upstream_check(args.preset)
        if problem:
            print(
                f"upstream venv is not ready for {args.preset} ({problem}): "
                "run `bash benchmarks/setup_upstream.sh --atari` first",
                file=sys.stderr,
            )
            return 2
    shim_dir = tempfile.mkdtemp(prefix="sfbench_shim_") if preload and "upstream" in order else None
    upstream_pythonpath = write_preload_shim(preload, shim_dir) if shim_dir else None
    try:
        return _run_all(args, order, extra, out, preset_modules, upstream_pythonpath)
    finally:
        if shim_dir:
            shutil.rmtree(shim_dir, ignore_errors=True)


def upstream_check(preset: str, python: str | None = None) -> str | None:
    """Runs the preset's readiness check in upstream's interpreter (isolated, outside the repo root).

    Returns None when it passes, else the last line of its error output.
    """
    code = UPSTREAM_CHECKS[preset]
    try:
        res = subprocess.run(
            [python or str(UPSTREAM_PYTHON), "-I", "-c", code], capture_output=True, text=True, timeout=300, cwd="/"
        )
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    if res.returncode == 0:
        return None
    lines = (res.stderr or res.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {res.returncode}"


def _run_all(
    args: argparse.Namespace,
    order: list[str],
    extra: list[str],
    out: Path,
    preset_modules: Sequence[str],
    upstream_pythonpath: str | None,
) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out.with_suffix("")
    log_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "preset": args.preset,
        "extra_args": extra,
        "frames": args.frames,
        "seconds": args.seconds,
        "target": args.target,
        "warmup_s": args.warmup,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": {
            fw: framework_versions(python_for(fw), PRESET_PACKAGES.get(args.preset, ()))
            for fw in FRAMEWORKS
            if fw in order
        },
        "upstream_preload": list(UPSTREAM_PRELOAD.get(args.preset, ())),
        "memory_note": "peak of the per-sample sum over the process tree; primary metric PSS (shared pages split "
        "between processes) when available, else USS, else RSS; peak RSS-sum double counts shared pages",
    }
    if not args.no_warm_imports:
        meta["warm_import_s"] = {}
        for fw in dict.fromkeys(order):
            meta["warm_import_s"][fw] = round(
                warm_imports(fw, extra_modules=preset_modules, upstream_pythonpath=upstream_pythonpath), 2
            )
            print(f"warmed {fw} imports in {meta['warm_import_s'][fw]} s", file=sys.stderr, flush=True)
    runs: list[dict[str, Any]] = []
    for i, fw in enumerate(order):
        if i and args.pause > 0:
            time.sleep(args.pause)
        td = tempfile.mkdtemp(prefix=f"sfbench_{fw}_")
        experiment = f"bench_{fw}_{i}"
        cmd = build_command(fw, args.preset, extra, args.frames, td, experiment, args.summaries_interval or None)
        print(f"[{i + 1}/{len(order)}] {fw}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
        try:
            result = run_once(
                fw,
                cmd,
                build_env(fw, upstream_pythonpath=upstream_pythonpath),
                cwd=td,  # never the repo root: it would shadow upstream's packages with ours
                seconds=args.seconds,
                target=args.target,
                warmup_s=args.warmup,
                mem_interval=args.mem_interval,
                log_path=log_dir / f"{i:02d}_{fw}.log",
                stop_at_target=args.stop_at_target,
            )
            scalars = read_scalar_summaries(Path(td) / experiment)
            result.update(summary_figures(scalars, args.target, result["launched_at_epoch"]))
        finally:
            if not args.keep_train_dirs:
                shutil.rmtree(td, ignore_errors=True)
        runs.append(result)
        print(
            f"    steady {_fmt(result['steady_fps'])} frames/s (mean {_fmt(result['mean_fps_after_warmup'])}), "
            f"start-up {_fmt(result['startup_s'], 1)} s, first frames {_fmt(result['first_frames_s'], 1)} s, "
            f"{args.target:g} at {_fmt(result['time_to_target_s'], 1)} s "
            f"({_fmt(result['summary_time_to_target_s'], 1)} s by the summaries, first trained frames "
            f"{_fmt(result['summary_first_frames_s'], 1)} s), peak "
            f"{_fmt(result['memory']['peak_primary'] or None, 2, GIB)} GiB, exit {result['exit_code']}",
            file=sys.stderr,
            flush=True,
        )
        out.write_text(json.dumps({"meta": meta, "runs": runs, "summary": summarize(runs)}, indent=1))

    print(f"### {args.preset} ({meta['machine']['cpu_model']}, {meta['machine']['cpu_count']} cores, {meta['date']})\n")
    print(markdown_table(runs, args.target))
    print(f"\nraw numbers: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
