"""The "processes" launcher backend: run every experiment as a local subprocess, at most `--max_parallel` at once,
optionally spread over GPUs (`--experiments_per_gpu`)."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from sample_factory.launcher.run_description import GeneratedExperiment, RunDescription
from sample_factory.utils.utils import log


def add_processes_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("processes backend")
    g.add_argument("--num_gpus", default=1, type=int, help="GPUs to spread experiments over (experiments_per_gpu > 0)")
    g.add_argument("--max_parallel", default=4, type=int, help="Maximum experiments running at the same time")
    g.add_argument(
        "--experiments_per_gpu",
        default=-1,
        type=int,
        help="Experiments per GPU. -1: leave CUDA_VISIBLE_DEVICES alone; > 0: each process sees only the GPU with the "
        "fewest experiments (and waits while every GPU has this many)",
    )


def experiment_argv(cmd: str) -> list[str]:
    """Split a command line; a leading `python` becomes this interpreter (`sys.executable`)."""
    argv = shlex.split(cmd)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


class _Terminated(Exception):
    """Raised in the main loop by the SIGTERM handler."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated()


@dataclass
class _Running:
    exp: GeneratedExperiment
    process: subprocess.Popen
    gpu: int | None


def _pick_gpu(running: list[_Running], num_gpus: int, experiments_per_gpu: int) -> int | None:
    """The least busy GPU with a free place, or None when all are full."""
    load = [0] * max(1, num_gpus)
    for r in running:
        if r.gpu is not None:
            load[r.gpu] += 1
    gpu = min(range(len(load)), key=lambda i: load[i])
    return gpu if load[gpu] < experiments_per_gpu else None


def _start(exp: GeneratedExperiment, gpu: int | None) -> subprocess.Popen:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in exp.env_vars.items()})
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    where = "" if gpu is None else f" on GPU {gpu}"
    log.info("Starting %s%s: %s", exp.experiment_name, where, exp.cmd)
    return subprocess.Popen(experiment_argv(exp.cmd), env=env)


def _stop_all(running: list[_Running], grace_s: float) -> None:
    """Give the experiments `grace_s` to stop on their own (Ctrl+C reaches the whole process group), then
    terminate the rest (and kill what ignores that for 5 s)."""
    deadline = time.time() + grace_s
    for r in running:
        try:
            r.process.wait(timeout=max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            r.process.terminate()
    for r in running:
        try:
            r.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            r.process.kill()
            r.process.wait()


def run(run_description: RunDescription, args: argparse.Namespace) -> int:
    """Run all experiments; 0 if every one exited with 0, else 1 (failed return codes are logged)."""
    if args.max_parallel < 1:
        raise ValueError(f"--max_parallel must be >= 1, got {args.max_parallel}")
    pending = list(run_description.generate_experiments(args.train_dir, args.experiment_suffix))
    pending.reverse()  # pop() from the end keeps the declared order
    total = len(pending)
    running: list[_Running] = []
    failed: list[tuple[str, int]] = []
    use_gpus = args.experiments_per_gpu > 0
    last_start = 0.0
    in_main_thread = threading.current_thread() is threading.main_thread()  # signal handlers need the main thread
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        while pending or running:
            while pending and len(running) < args.max_parallel:
                gpu = _pick_gpu(running, args.num_gpus, args.experiments_per_gpu) if use_gpus else None
                if use_gpus and gpu is None:
                    break
                wait = args.pause_between - (time.time() - last_start)
                if last_start and wait > 0:
                    time.sleep(wait)  # stagger start-ups (they are the memory- and CPU-heaviest part)
                exp = pending.pop()
                running.append(_Running(exp, _start(exp, gpu), gpu))
                last_start = time.time()
            still_running = []
            for r in running:
                rc = r.process.poll()
                if rc is None:
                    still_running.append(r)
                elif rc != 0:
                    log.error("Experiment %s failed with exit code %d: %s", r.exp.experiment_name, rc, r.exp.cmd)
                    failed.append((r.exp.experiment_name, rc))
                else:
                    log.info("Experiment %s finished", r.exp.experiment_name)
            running = still_running
            time.sleep(0.1)
    except KeyboardInterrupt:
        log.warning("Interrupted: waiting for %d running experiments to stop", len(running))
        _stop_all(running, grace_s=10.0)
        return 1
    except _Terminated:
        log.warning("Terminated: stopping %d running experiments", len(running))
        _stop_all(running, grace_s=0.0)
        return 1
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm)
    log.info("Done: %d experiments, %d failed %s", total, len(failed), failed if failed else "")
    return 1 if failed else 0
