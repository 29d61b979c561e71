"""The runner (main process): start-up, statistics, console and TensorBoard, checkpoint timing, stopping, errors.

`Runner.init()` prepares the experiment folder and probes the env; `Runner.run()` starts the components through a
launcher (serial or parallel) and supervises them until a stop condition, an error, or Ctrl+C.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from collections import defaultdict, deque
from typing import Any

import numpy as np
import torch

from sample_factory.algo.runners.wiring import Channels, Plane, make_channels, make_plane
from sample_factory.algo.utils.misc import ExperimentStatus
from sample_factory.utils.malloc_tuning import tune_malloc
from sample_factory.utils.typing import Config, PolicyID, StatusCode
from sample_factory.utils.utils import log


class AlgoObserver:
    """Hooks into the run; register with `runner.register_observer(obs)`."""

    def on_init(self, runner: Runner) -> None:
        pass

    def on_connect_components(self, runner: Runner) -> None:
        pass

    def on_start(self, runner: Runner) -> None:
        pass

    def on_training_step(self, runner: Runner, training_iteration_since_resume: int) -> None:
        pass

    def extra_summaries(self, runner: Runner, policy_id: PolicyID, env_steps: int, writer: Any) -> None:
        pass

    def on_stop(self, runner: Runner) -> None:
        pass


def _train_summary_interval(train_step: int) -> float:
    """Seconds between learner summaries: 2 s at the start, 60 s after 1e5 steps, 120 s after 1e6."""
    return float(np.interp(train_step, [0, 1e5, 1e6], [2.0, 60.0, 120.0]))


class Runner:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.env_info: Any = None
        self.observers: list[AlgoObserver] = []
        self.msg_handlers: dict[str, list] = defaultdict(list)
        self.policy_msg_handlers: dict[str, list] = defaultdict(list)
        self.episodic_stats_handlers: list = []
        P = cfg.num_policies
        self.env_steps: dict[int, int] = dict.fromkeys(range(P), 0)
        self.train_step: dict[int, int] = dict.fromkeys(range(P), 0)
        self.best_performance: dict[int, float] = dict.fromkeys(range(P), -1e9)
        self.policy_avg_stats: dict[str, list[deque]] = defaultdict(
            lambda: [deque(maxlen=cfg.stats_avg) for _ in range(P)]
        )
        self.policy_lag: dict[int, dict[str, float]] = defaultdict(dict)
        self.writers: dict[int, Any] = {}
        self.learners: list[Any] = []
        self.sampler: Any = None
        self.timing: dict[str, dict[str, float]] = {}
        self.fps_history: deque = deque(maxlen=1000)
        self.samples_collected = 0
        self.reward_shaping: list[dict | None] = [None] * P
        self.launcher: Any = None
        self.status: StatusCode = ExperimentStatus.SUCCESS
        self._last_train_summary: dict[int, float] = defaultdict(float)
        self._ready: set[int] = set()
        self._env_steps_at_start = 0
        self.stopped_by: str = ""

    # ----------------------------------------------------------------- API
    def register_observer(self, observer: AlgoObserver) -> None:
        self.observers.append(observer)

    def register_msg_handler(self, key: str, handler: Any) -> None:
        self.msg_handlers[key].append(handler)

    def register_policy_msg_handler(self, key: str, handler: Any) -> None:
        self.policy_msg_handlers[key].append(handler)

    def register_episodic_stats_handler(self, handler: Any) -> None:
        self.episodic_stats_handlers.append(handler)

    def update_reward_shaping(self, policy_id: PolicyID, reward_shaping: dict) -> None:
        self.reward_shaping[policy_id] = reward_shaping
        for ch in self.channels.rollout:
            ch.send(("shaping", reward_shaping))

    # ---------------------------------------------------------------- init
    def init(self) -> StatusCode:
        from sample_factory.algo.runners.startup import start_experiment

        return start_experiment(self)

    # ----------------------------------------------------------------- run
    def _make_launcher(self) -> Any:
        from sample_factory.algo.runners.launcher import ParallelLauncher, SerialLauncher

        return SerialLauncher(self.cfg) if self.cfg.serial_mode else ParallelLauncher(self.cfg)

    def run(self) -> StatusCode:
        cfg = self.cfg
        tune_malloc()  # this process hosts a learner thread (or every component, in serial mode)
        self.launcher = self._make_launcher()
        self.channels: Channels = make_channels(cfg, self.launcher.channel_factory)
        claim = getattr(self.channels.runner, "claim_reader", None)
        if claim is not None:
            # a learner thread's per-step reports stay in this process: an in-process queue that this loop drains
            # at its next turn (at most 50 ms later) instead of a pipe write that wakes it for every training step
            claim()
        self.plane: Plane = make_plane(cfg, self.env_info, share=not cfg.serial_mode)
        models = self._make_models()
        for o in self.observers:
            o.on_connect_components(self)
        self.device = self._device()
        self.start_time = time.monotonic()
        interrupted = {"flag": False}
        # Ctrl+C and SIGTERM (e.g. a cluster scheduler's notice) both stop the run cleanly with a checkpoint
        prev_handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def _on_signal(signum: int, frame: Any) -> None:
            interrupted["flag"] = True

        for sig in prev_handlers:
            signal.signal(sig, _on_signal)
        try:
            self.launcher.start(cfg, self.env_info, self.plane, self.channels, models, self.device)
            for o in self.observers:
                o.on_start(self)
            self._loop(interrupted)
        except KeyboardInterrupt:
            self.status = ExperimentStatus.INTERRUPTED
            self.stopped_by = "interrupted"
        finally:
            self._shutdown()
            for sig, handler in prev_handlers.items():
                signal.signal(sig, handler)
        return self.status

    def _device(self) -> torch.device:
        return torch.device("cuda" if self.cfg.device == "gpu" and torch.cuda.is_available() else "cpu")

    def _make_models(self) -> list[Any]:
        from sample_factory.model.actor_critic import create_actor_critic

        models = []
        for _ in range(self.cfg.num_policies):
            m = create_actor_critic(self.cfg, self.env_info.obs_space, self.env_info.action_space)
            if not self.cfg.serial_mode:
                m.share_memory()
            models.append(m)
        return models

    def _loop(self, interrupted: dict) -> None:
        cfg = self.cfg
        now = time.monotonic()
        timers = {
            "report": now,
            "summaries": now,
            "save": now,
            "best": now,
            "milestone": now,
            "train_info": now,
            "heartbeat": now,
        }
        startup_deadline = now + max(60.0, 3 * cfg.heartbeat_reporting_interval)
        while True:
            self.launcher.poll()
            for msg in self.channels.runner.recv_all(0.0 if cfg.serial_mode else 0.05):
                self._handle(msg)
            if self.status == ExperimentStatus.FAILURE:
                return
            failures = self.launcher.failures()
            if failures:
                self._fail("; ".join(failures), "")
                return
            if interrupted["flag"]:
                log.info("Interrupted: stopping (a checkpoint is saved)")
                self.status = ExperimentStatus.INTERRUPTED
                self.stopped_by = "interrupted"
                return
            now = time.monotonic()
            if len(self._ready) < cfg.num_policies and now > startup_deadline:
                self._fail("start-up", f"learners not ready after {now - self.start_time:.0f} s")
                return
            if self._should_stop(now):
                return
            if now - timers["report"] >= 5.0:
                timers["report"] = now
                self._report(now)
            if now - timers["summaries"] >= cfg.experiment_summaries_interval:
                timers["summaries"] = now
                self._write_summaries(now)
            if now - timers["save"] >= cfg.save_every_sec:
                timers["save"] = now
                self._send_learners(("save", "checkpoint"))
            if now - timers["best"] >= cfg.save_best_every_sec:
                timers["best"] = now
                self._maybe_save_best()
            if cfg.save_milestones_sec > 0 and now - timers["milestone"] >= cfg.save_milestones_sec:
                timers["milestone"] = now
                self._send_learners(("save", "milestone"))
            if now - timers["train_info"] >= 5.0:
                timers["train_info"] = now
                info = {"approx_total_training_steps": sum(self.env_steps.values())}
                for ch in self.channels.rollout:
                    ch.send(("train_info", info))
            if now - timers["heartbeat"] >= min(5.0, cfg.heartbeat_reporting_interval):
                timers["heartbeat"] = now
                stale = self._stale_components()
                if stale:
                    self._fail(stale, "no progress (a hanging env or a stuck component)")
                    return

    def _stale_components(self) -> str:
        if self.cfg.serial_mode or len(self._ready) < self.cfg.num_policies:
            return ""
        hb = self.plane.shared.heartbeats.numpy()
        now = time.time()
        stale = [
            f"{name} (last heartbeat {now - hb[i]:.0f} s ago)"
            for i, name in enumerate(self.plane.component_names)
            if hb[i] > 0 and now - hb[i] > self.cfg.heartbeat_reporting_interval
        ]
        return ", ".join(stale)

    def _should_stop(self, now: float) -> bool:
        cfg = self.cfg
        if len(self._ready) == cfg.num_policies and all(s >= cfg.train_for_env_steps for s in self.env_steps.values()):
            self.stopped_by = f"reached --train_for_env_steps={cfg.train_for_env_steps}"
            return True
        if now - self.start_time >= cfg.train_for_seconds:
            self.stopped_by = f"reached --train_for_seconds={cfg.train_for_seconds}"
            return True
        return False

    def _send_learners(self, msg: tuple) -> None:
        for ch in self.channels.learner:
            ch.send(msg)

    def _fail(self, component: str, error: str, tb: str = "") -> None:
        self.status = ExperimentStatus.FAILURE
        self.stopped_by = f"failure in {component}"
        log.error("Component %s failed: %s", component, error)
        if tb:
            log.error("Traceback from %s:\n%s", component, tb.rstrip())
        log.error("Stopping the run because %s failed", component)

    # ------------------------------------------------------------ messages
    def _handle(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "episodes":
            self._on_episodes(msg[1])
        elif kind == "train":
            _, pid, stats, env_steps, train_step, steps = msg
            self.env_steps[pid] = env_steps
            self.train_step[pid] = train_step
            self.samples_collected += steps
            self._on_train_stats(pid, stats)
        elif kind == "learner_ready":
            _, pid, env_steps, train_step, best = msg
            self._ready.add(pid)
            self.env_steps[pid], self.train_step[pid] = env_steps, train_step
            self.best_performance[pid] = best
            self._env_steps_at_start = sum(self.env_steps.values())
            if len(self._ready) == self.cfg.num_policies:
                log.info("All components are up after %.1f s", time.monotonic() - self.start_time)
        elif kind == "timing":
            self.timing[msg[1]] = msg[2]
        elif kind == "error":
            _, name, error, tb = msg
            self._fail(name, error, tb)
        elif kind == "stopped":
            pass
        for handler in self.msg_handlers.get(kind, []):
            handler(self, msg)

    def _on_episodes(self, episodes: list[tuple]) -> None:
        for pid, reward, length, true_objective, extra, rec in episodes:
            if pid < 0:
                continue
            stats = self.policy_avg_stats
            stats["reward"][pid].append(reward)
            stats["len"][pid].append(length)
            stats["true_objective"][pid].append(true_objective)
            if rec is not None:
                stats["RecordEpisodeStatistics_reward"][pid].append(rec[0])
                stats["RecordEpisodeStatistics_len"][pid].append(rec[1])
            if extra:
                for k, v in _flatten(extra).items():
                    stats[k][pid].append(float(v))
            for handler in self.episodic_stats_handlers:
                handler(self, {"policy_id": pid, "reward": reward, "len": length, "extra": extra}, pid)

    def _on_train_stats(self, pid: int, stats: dict[str, float]) -> None:
        for key in ("version_diff_min", "version_diff_avg", "version_diff_max"):
            if key in stats:
                self.policy_lag[pid][key] = stats[key]
        now = time.monotonic()
        if stats and now - self._last_train_summary[pid] >= _train_summary_interval(self.train_step[pid]):
            self._last_train_summary[pid] = now
            w = self._writer(pid)
            for k, v in stats.items():
                if v is not None and np.isfinite(v):
                    w.add_scalar(f"train/{k}", float(v), self.env_steps[pid])
            w.add_scalar("train/env_steps", self.env_steps[pid], self.env_steps[pid])
        for o in self.observers:
            o.on_training_step(self, self.train_step[pid])

    # ------------------------------------------------------------- reports
    def _fps(self, now: float) -> tuple[float, float, float]:
        total = sum(self.env_steps.values())
        self.fps_history.append((now, total))
        out = []
        for window in (10, 60, 300):
            past = [(t, s) for t, s in self.fps_history if now - t <= window + 0.5]
            if len(past) >= 2 and past[-1][0] - past[0][0] >= min(window, 4.0):
                (t0, s0), (t1, s1) = past[0], past[-1]
                out.append((s1 - s0) / (t1 - t0) if t1 > t0 else math.nan)
            else:
                out.append(math.nan)
        return out[0], out[1], out[2]

    def _report(self, now: float) -> None:
        fps10, fps60, fps300 = self._fps(now)
        total = sum(self.env_steps.values())
        self.last_fps = fps10
        throughput = ", ".join(
            f"{p}: {fps10 / max(1, self.cfg.num_policies):.1f}" for p in range(self.cfg.num_policies)
        )
        lag = ""
        for p in range(self.cfg.num_policies):
            d = self.policy_lag.get(p)
            if d:
                lag += f" Policy #{p} lag: (min: {d.get('version_diff_min', 0):.1f}, avg: {d.get('version_diff_avg', 0):.1f}, max: {d.get('version_diff_max', 0):.1f})"
        log.info(
            "Fps is (10 sec: %.1f, 60 sec: %.1f, 300 sec: %.1f). Total num frames: %d. Throughput: %s. Samples: %d.%s",
            fps10,
            fps60,
            fps300,
            total,
            throughput,
            self.samples_collected,
            lag,
        )
        rewards = self._avg_rewards()
        if rewards:
            log.info("Avg episode reward: %s", rewards)
        self._progress(now, total, fps10)

    def _avg_rewards(self) -> list[tuple[int, str]]:
        stats = self.policy_avg_stats["reward"]
        return [(p, f"{np.mean(stats[p]):.3f}") for p in range(self.cfg.num_policies) if stats[p]]

    def _progress(self, now: float, total: int, fps: float) -> None:
        cfg = self.cfg
        if not sys.stdout.isatty():
            return
        parts = []
        if cfg.train_for_env_steps < 1e10 and fps and np.isfinite(fps) and fps > 0:
            left = max(0, cfg.train_for_env_steps - min(self.env_steps.values()))
            parts.append(f"{100 * (1 - left / cfg.train_for_env_steps):.1f}% of env steps, ~{left / fps:.0f} s left")
        if cfg.train_for_seconds < 1e10:
            parts.append(f"{max(0.0, cfg.train_for_seconds - (now - self.start_time)):.0f} s of the time budget left")
        if parts:
            log.info("Progress: %s", "; ".join(parts))

    def _writer(self, pid: int) -> Any:
        if pid not in self.writers:
            from torch.utils.tensorboard import SummaryWriter

            from sample_factory.utils.utils import experiment_dir, summaries_dir

            self.writers[pid] = SummaryWriter(
                summaries_dir(experiment_dir(self.cfg), pid), flush_secs=self.cfg.flush_summaries_interval
            )
        return self.writers[pid]

    def _write_summaries(self, now: float) -> None:
        from sample_factory.algo.utils.misc import memory_stats

        fps10 = self._fps(now)[0]
        if not np.isfinite(fps10) and now - self.start_time > 1.0:  # short runs: the average since the start
            fps10 = (sum(self.env_steps.values()) - self._env_steps_at_start) / (now - self.start_time)
        for pid in range(self.cfg.num_policies):
            if pid not in self._ready:
                continue  # its env_steps are not known until the learner has loaded its checkpoint
            w = self._writer(pid)
            x = self.env_steps[pid]
            for key, deques in self.policy_avg_stats.items():
                d = deques[pid]
                full_or_late = len(d) >= self.cfg.stats_avg or (len(d) > 0 and now - self.start_time > 300)
                if not d or not full_or_late:
                    continue
                mean = float(np.mean(d))
                if key in ("reward", "len"):
                    w.add_scalar(f"{key}/{key}", mean, x)
                    w.add_scalar(f"{key}/{key}_min", float(np.min(d)), x)
                    w.add_scalar(f"{key}/{key}_max", float(np.max(d)), x)
                elif "/" in key:
                    w.add_scalar(key, mean, x)
                else:
                    w.add_scalar(f"policy_stats/avg_{key}", mean, x)
                    if key == "true_objective":
                        w.add_scalar("policy_stats/avg_true_objective_min", float(np.min(d)), x)
                        w.add_scalar("policy_stats/avg_true_objective_max", float(np.max(d)), x)
            if pid == 0 and np.isfinite(fps10):
                w.add_scalar("perf/_fps", fps10, x)
                w.add_scalar("perf/_sample_throughput", fps10, x)
            w.add_scalar("stats/master_process_memory_mb", memory_stats("master", "cpu")["memory_master"], x)
            for o in self.observers:
                o.extra_summaries(self, pid, x, w)
            w.flush()

    def _maybe_save_best(self) -> None:
        cfg = self.cfg
        for pid in range(cfg.num_policies):
            d = self.policy_avg_stats.get(cfg.save_best_metric, [deque()] * cfg.num_policies)[pid]
            if self.env_steps[pid] < cfg.save_best_after or not d:
                continue
            value = float(np.mean(d))
            if value > self.best_performance[pid] + 1e-3:
                self.best_performance[pid] = value
                self.channels.learner[pid].send(("save", "best", cfg.save_best_metric, value))

    # ------------------------------------------------------------ shutdown
    def _shutdown(self) -> None:
        t0 = time.monotonic()
        if self.launcher is not None and hasattr(self, "channels"):
            if self.status != ExperimentStatus.FAILURE:
                self._maybe_save_best()
            self.launcher.stop(self.channels, timeout=10.0)
            for msg in self.channels.runner.recv_all(0.0):
                if msg[0] in ("timing", "train", "episodes", "stopped"):
                    self._handle(msg)
        rewards = self._avg_rewards()
        if rewards:
            log.info("Avg episode reward: %s", rewards)  # where the run ended, also for runs shorter than a report
        for o in self.observers:
            o.on_stop(self)
        for w in self.writers.values():
            w.close()
        elapsed = time.monotonic() - getattr(self, "start_time", time.monotonic())
        total = sum(self.env_steps.values())
        self._print_timing()
        collected = {p: s for p, s in self.env_steps.items()}
        fps = (total - self._env_steps_at_start) / max(elapsed, 1e-9)
        log.info("Collected %s, FPS: %.1f", collected, fps)
        log.info(
            "Stopped (%s) after %.1f s; shutdown took %.1f s", self.stopped_by or "done", elapsed, time.monotonic() - t0
        )
        from sample_factory.cfg.experiment import detach_log_file

        detach_log_file(self.cfg)

    def _print_timing(self) -> None:
        if not self.timing:
            return
        lines = []
        for name in sorted(self.timing):
            items = ", ".join(f"{k}: {v:.3f}" for k, v in sorted(self.timing[name].items()))
            lines.append(f"  {name}: {items}")
        log.info("Where the time went (seconds per component):\n%s", "\n".join(lines))


def _flatten(d: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "_"))
        else:
            try:
                out[key] = float(v)
            except (TypeError, ValueError):
                continue
    return out


class SerialRunner(Runner):
    """Runner whose components all run in this process (`--serial_mode=True`)."""


class ParallelRunner(Runner):
    """Runner with one process per component."""
