"""Launchers: run the same components round-robin in one process (serial) or one process each (parallel).

A component is a plain object with `init()`, `step(timeout) -> bool` (False = stop), `report_timing()` and
`close()`. Child processes wrap their loop: any exception is sent to the runner with the component's name and the
traceback, so the run stops within seconds instead of waiting for a heartbeat.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from typing import Any

import torch

from sample_factory.algo.runners.wiring import Channels, Plane, fused_inference, num_inference_workers
from sample_factory.algo.utils.channels import LocalChannel, ProcessChannel
from sample_factory.algo.utils.context import child_process_state, install_child_process_state
from sample_factory.algo.utils.process_start import process_alive, process_context
from sample_factory.utils.malloc_tuning import tune_malloc
from sample_factory.utils.typing import Config
from sample_factory.utils.utils import log


def component_specs(cfg: Config) -> list[tuple[str, int, int]]:
    """(kind, policy_or_worker index, sub index) per component, in the order of `wiring.component_names`."""
    specs = [("rollout", w, 0) for w in range(cfg.num_workers)]
    specs += [("inference", p, k) for p in range(cfg.num_policies) for k in range(num_inference_workers(cfg))]
    specs += [("learner", p, 0) for p in range(cfg.num_policies)]
    return specs


def build_component(
    spec: tuple[str, int, int],
    component_id: int,
    cfg: Config,
    env_info: Any,
    plane: Plane,
    channels: Channels,
    models: list[Any],
    device: torch.device,
) -> Any:
    kind, a, b = spec
    if kind == "rollout":
        from sample_factory.algo.sampling.rollout_worker import RolloutWorker

        return RolloutWorker(
            cfg, env_info, a, plane.buffers, plane.pools[a], channels, plane.shared.heartbeats, component_id
        )
    if kind == "inference":
        from sample_factory.algo.sampling.inference_worker import InferenceWorker

        return InferenceWorker(
            cfg,
            a,
            b,
            plane.buffers,
            models[a],
            channels,
            plane.shared.policy_versions,
            plane.shared.heartbeats,
            component_id,
            device,
        )
    from sample_factory.algo.learning.learner_worker import LearnerWorker

    return LearnerWorker(
        cfg,
        env_info,
        a,
        plane.buffers,
        models[a],
        channels,
        plane.shared.policy_versions,
        plane.shared.heartbeats,
        component_id,
        device,
    )


def torch_threads(kind: str) -> int:
    """Intra-op threads per component: one for samplers; the learner gets a few only on machines with cores to spare
    (on small machines extra threads spin against the other processes and slow everything down)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if kind != "learner" or cores <= 4:
        return 1
    return min(4, cores // 4)


class SerialLauncher:
    """Every component in this process, stepped round-robin."""

    channel_factory = staticmethod(LocalChannel)

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.components: list[Any] = []
        self.failed = False

    def start(
        self, cfg: Config, env_info: Any, plane: Plane, channels: Channels, models: list[Any], device: torch.device
    ) -> None:
        self.channels = channels
        torch.set_num_threads(torch_threads("serial"))
        specs = component_specs(cfg)
        self.components = [
            build_component(s, i, cfg, env_info, plane, channels, models, device) for i, s in enumerate(specs)
        ]
        # learners first: they load checkpoints and publish the weights the inference workers act with
        for c in sorted(self.components, key=lambda c: 0 if c.name.startswith("Learner") else 1):
            try:
                c.init()
            except Exception as exc:  # noqa: BLE001 - reported like a child process failure
                channels.runner.send(("error", c.name, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
                self.failed = True
                return

    def poll(self) -> None:
        if self.failed:
            return
        for c in self.components:
            try:
                c.step(0.0)
            except Exception as exc:  # noqa: BLE001 - reported like a child process failure
                self.channels.runner.send(("error", c.name, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
                self.failed = True
                return

    def failures(self) -> list[str]:
        return []

    def stop(self, channels: Channels, timeout: float) -> None:
        for c in self.components:
            try:
                if c.name.startswith("Learner") and not self.failed:
                    c.save("checkpoint")
                c.report_timing()
            finally:
                if hasattr(c, "close"):
                    c.close()


def process_groups(cfg: Config) -> list[list[int]]:
    """Which components share a process (indices into `component_specs`): with fused inference each rollout worker
    runs with its own inference workers; every other component gets a process of its own."""
    specs = component_specs(cfg)
    if not fused_inference(cfg):
        return [[i] for i in range(len(specs))]
    groups: dict[tuple, list[int]] = {}
    for i, (kind, a, b) in enumerate(specs):
        key = ("worker", a) if kind == "rollout" else ("worker", b) if kind == "inference" else ("learner", a)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _group_main(
    members: list[Any],
    cfg: Config,
    env_info: Any,
    plane: Plane,
    channels: Channels,
    models: list[Any],
    device: torch.device,
    state: Any,
    in_thread: bool = False,
    runner: dict[str, Any] | None = None,
) -> None:
    """Entry point of a child process (or of a learner thread in the runner's process, `in_thread`): run its
    components round-robin until one is told to stop.

    `members` is a list of (spec, component_id, name). Any exception is reported with the failing component's name.
    `runner` (a child's): the runner's pid, watched to stop when it is gone, and its environment variables, which a
    worker forked by the fork server would not otherwise see (process_start.py).
    """
    from multiprocessing.connection import wait

    components: list[Any] = []
    name = members[0][2]
    try:
        kinds = {spec[0] for spec, _, _ in members}
        main_kind = "rollout" if "rollout" in kinds else members[0][0][0]
        if not in_thread:
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides how to stop
            if runner is not None:
                os.environ.clear()
                os.environ.update(runner["environ"])
            install_child_process_state(state)
            seed_process_rng(cfg, members[0][1])
            tune_malloc()
            if main_kind == "rollout" and cfg.force_envs_single_thread:
                from threadpoolctl import threadpool_limits

                threadpool_limits(1)
            _set_niceness(cfg, main_kind)
        torch.set_num_threads(torch_threads(main_kind))  # process-wide: in a thread, the runner's too (it is light)
        _set_affinity(cfg, main_kind, members[0][0][1])
        for spec, component_id, member_name in members:
            name = member_name  # named in the error report if building it fails
            components.append(build_component(spec, component_id, cfg, env_info, plane, channels, models, device))
        for c in components:
            if isinstance(c.inbox, ProcessChannel):
                c.inbox.claim_reader()  # this process's own messages to it (fused inference) skip the pipe
        for c in sorted(components, key=lambda c: 0 if c.name.startswith("Inference") else 1):
            name = c.name
            c.init()
        local = [c.inbox for c in components]
        readers = [c.inbox.reader for c in components if isinstance(c.inbox, ProcessChannel)]
        running, orphaned = True, False
        runner_pid = runner["pid"] if runner is not None else os.getppid()
        turns = 0
        while running:
            for c in components:
                name = c.name
                if not c.step(0.0):
                    running = False
                    break
            turns += 1
            if running and not any(len(ch) for ch in local):
                wait(readers, timeout=0.05)
                turns |= 255  # idle: check on the parent now
            if not in_thread and turns & 255 == 255 and not process_alive(runner_pid):
                log.error("%s: the runner process is gone; stopping", name)  # killed without a chance to stop us
                running, orphaned = False, True
        for c in components if not orphaned else []:
            name = c.name
            c.report_timing()
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the runner
        channels.runner.send(("error", name, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        for c in components:
            if hasattr(c, "close"):
                try:
                    c.close()
                except Exception:  # noqa: BLE001
                    pass


def seed_process_rng(cfg: Config, component_id: int) -> None:
    """Give this worker process a torch random stream of its own (the actions its inference samples).

    Processes forked from the fork server inherit the server's torch generator, so without this every worker
    would draw the same noise: identical actions in the envs of different workers while the policy is still
    near-uniform. With `--seed` the stream derives from it and the process's first component id (reproducible),
    else from OS entropy."""
    if cfg.seed is None:
        torch.seed()
    else:
        torch.manual_seed((int(cfg.seed) * 1_000_003 + 7_919 * (component_id + 1)) % (2**63))


ROLLOUT_EXTRA_NICENESS = 19


def _set_niceness(cfg: Config, kind: str) -> None:
    """Rollout workers (with their fused inference) run at the lowest priority above `default_niceness`: where
    samplers share cores with the learner, the learner (the critical path once it is the bottleneck) gets its core
    whenever it wants it. Tuned CartPole on 2 cores, 3 alternating pairs: +5%, +6%, +10% frames/s against nice 10;
    upstream's defaults (sampler-bound) unchanged within noise."""
    extra = {"rollout": ROLLOUT_EXTRA_NICENESS, "inference": 2, "learner": 0}[kind]
    try:
        target = min(19, cfg.default_niceness + extra)
        current = os.nice(0)
        if target > current:
            os.nice(target - current)
    except OSError:
        pass


def _set_affinity(cfg: Config, kind: str, idx: int) -> None:
    """Rollout worker i on core i % cores when there are at least as many workers as cores (as upstream). Learners
    stay unpinned: pinning the learner to a core of its own (and the samplers to the others) measured slower on the
    2-core machine, where the learner then idles its core whenever it waits for data."""
    if kind != "rollout" or not cfg.set_workers_cpu_affinity or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) <= 1 or cfg.num_workers < len(cores):
        return
    try:
        os.sched_setaffinity(0, {cores[idx % len(cores)]})
    except OSError:
        pass


def learner_in_runner_process(cfg: Config) -> bool:
    """A single learner runs as a thread of the runner's process (it spends its time in torch kernels that release
    the GIL, and the runner's own loop is light): one process fewer to spawn, import torch into and keep in memory.
    Several learners (PBT) get processes of their own. `SF_LEARNER_THREAD=0/1` overrides."""
    forced = os.environ.get("SF_LEARNER_THREAD")
    if forced in ("0", "1"):
        return forced == "1"
    return cfg.num_policies == 1


class ParallelLauncher:
    """One spawned process per component group (a learner may be a thread of this process instead); bulk data in
    shared tensors, messages on pipes."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.ctx = process_context()  # a warm fork server where available (process_start.py), else spawn
        self.processes: list[tuple[str, Any]] = []
        self.threads: list[tuple[str, threading.Thread]] = []

    def channel_factory(self) -> ProcessChannel:
        return ProcessChannel(self.ctx)

    def start(
        self, cfg: Config, env_info: Any, plane: Plane, channels: Channels, models: list[Any], device: torch.device
    ) -> None:
        specs = component_specs(cfg)
        state = child_process_state(cfg.env)
        in_thread = learner_in_runner_process(cfg)
        runner = {"pid": os.getpid(), "environ": dict(os.environ)}
        for group in process_groups(cfg):
            members = [(specs[i], i, plane.component_names[i]) for i in group]
            name = "+".join(plane.component_names[i] for i in group)
            if in_thread and all(specs[i][0] == "learner" for i in group):
                t = threading.Thread(
                    target=_group_main,
                    args=(members, cfg, env_info, plane, channels, models, device, None, True),
                    name=name,
                    daemon=True,
                )
                self.threads.append((name, t))
                continue
            p = self.ctx.Process(
                target=_group_main,
                args=(members, cfg, env_info, plane, channels, models, device, state),
                kwargs={"runner": runner},
                name=name,
                daemon=True,
            )
            p.start()
            self.processes.append((name, p))
        for _, t in self.threads:  # after the spawns: a busy learner thread would slow them down
            t.start()
        log.info(
            "Started %d processes: %s%s",
            len(self.processes),
            ", ".join(n for n, _ in self.processes),
            "".join(f"; {n} runs as a thread of this process" for n, _ in self.threads),
        )

    def poll(self) -> None:
        pass

    def failures(self) -> list[str]:
        return [
            f"{name} exited unexpectedly with code {p.exitcode}"
            for name, p in self.processes
            if not p.is_alive() and p.exitcode not in (0, None)
        ]

    def stop(self, channels: Channels, timeout: float) -> None:
        # samplers first, so that they stop taking the cores a learner needs to finish and save its checkpoint
        for ch in [*channels.rollout, *[c for per in channels.inference for c in per], *channels.learner]:
            try:
                ch.send(("stop",))
            except Exception:  # noqa: BLE001
                pass
        t0 = time.monotonic()
        for _name, t in self.threads:
            t.join(max(0.0, t0 + timeout + 20.0 - time.monotonic()))
            if t.is_alive():
                log.warning("%s did not stop in time (a thread: it ends with this process)", _name)
        for _name, p in self.processes:
            # a learner finishes its current dataset and writes a checkpoint: it gets longer
            limit = timeout + (20.0 if _name.startswith("Learner") else 0.0)
            p.join(max(0.0, t0 + limit - time.monotonic()))
            log.debug("%s joined after %.2f s", _name, time.monotonic() - t0)
        for name, p in self.processes:
            if p.is_alive():
                log.warning("%s did not stop in time: terminating it", name)
                p.terminate()
        for _name, p in self.processes:
            p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(1.0)
