"""A run never hangs silently: crashes and hangs anywhere stop it with the component named; Ctrl+C stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "support", "faulty_env_train.py")
COMMON = [
    "--device=cpu",
    "--use_rnn=False",
    "--batch_size=64",
    "--rollout=16",
    "--num_envs_per_worker=2",
    "--decorrelate_envs_on_one_worker=False",
]


def _start(tmp_path, env: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, SCRIPT, f"--env={env}", "--experiment=sup", f"--train_dir={tmp_path}", *COMMON, *extra]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, cwd=str(tmp_path)
    )


def _session_leftovers(pgid: int) -> list[psutil.Process]:
    left = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p)
        except (ProcessLookupError, psutil.Error):
            continue
    return left


def _wait_no_leftovers(pgid: int, timeout: float = 5.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    left = _session_leftovers(pgid)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _session_leftovers(pgid)
    return left


@pytest.mark.parametrize("serial", [False, True])
def test_env_exception_stops_run_and_names_component(tmp_path, serial):
    proc = _start(tmp_path, "crash_env", "--num_workers=2", f"--serial_mode={serial}", "--train_for_seconds=300")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode not in (0, None), out
    assert "RolloutWorker_w" in out and "failed" in out, out
    assert "FaultyEnv exploded on purpose" in out, out
    log_text = open(os.path.join(tmp_path, "sup", "sf_log.txt")).read()
    assert "FaultyEnv exploded on purpose" in log_text and "Traceback" in log_text
    assert not _wait_no_leftovers(proc.pid)


def test_env_exception_stops_within_seconds(tmp_path):
    proc = _start(tmp_path, "crash_env", "--num_workers=1", "--train_for_seconds=300")
    out_lines = []
    crash_seen_at = None
    for line in proc.stdout:
        out_lines.append(line)
        if "FaultyEnv exploded" in line and crash_seen_at is None:
            crash_seen_at = time.monotonic()
    proc.wait(timeout=60)
    end = time.monotonic()
    assert crash_seen_at is not None, "".join(out_lines)
    assert end - crash_seen_at < 10.0, f"took {end - crash_seen_at:.1f} s to stop after the crash"


def test_hanging_env_is_named(tmp_path):
    proc = _start(
        tmp_path,
        "hang_env",
        "--num_workers=1",
        "--heartbeat_reporting_interval=4",
        "--heartbeat_interval=1",
        "--train_for_seconds=300",
    )
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode not in (0, None), out
    assert "RolloutWorker_w0" in out and "no progress" in out, out
    assert not _wait_no_leftovers(proc.pid)


def test_ctrl_c_stops_cleanly_and_saves_checkpoint(tmp_path):
    shm_before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    proc = _start(tmp_path, "ok_env", "--num_workers=2", "--train_for_seconds=300")
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Fps is" in line and "Total num frames: 0." not in line:
            break
    assert proc.poll() is None, "".join(lines)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    elapsed = time.monotonic() - t0
    assert elapsed < 10.0, f"Ctrl+C took {elapsed:.1f} s"
    assert proc.returncode == 2, out  # ExperimentStatus.INTERRUPTED
    ckpts = os.listdir(os.path.join(tmp_path, "sup", "checkpoint_p0"))
    assert any(c.startswith("checkpoint_") and c.endswith(".pth") for c in ckpts), ckpts
    assert not _wait_no_leftovers(proc.pid)
    shm_after = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    assert not {s for s in shm_after - shm_before if "torch" in s}, shm_after - shm_before


def _wait_first_fps(proc: subprocess.Popen) -> list[str]:
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "Fps is" in line and "Total num frames: 0." not in line:
            break
    assert proc.poll() is None, "".join(lines)
    return lines


def test_sigterm_stops_cleanly_and_saves_checkpoint(tmp_path):
    """A scheduler's SIGTERM (to the main process only) is handled like Ctrl+C."""
    proc = _start(tmp_path, "ok_env", "--num_workers=2", "--train_for_seconds=300")
    _wait_first_fps(proc)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10.0
    assert proc.returncode == 2, out
    ckpts = os.listdir(os.path.join(tmp_path, "sup", "checkpoint_p0"))
    assert any(c.startswith("checkpoint_") and c.endswith(".pth") for c in ckpts), ckpts
    assert not _wait_no_leftovers(proc.pid)


def test_workers_exit_when_main_process_is_killed(tmp_path):
    """SIGKILL leaves no time to stop anything: the worker processes notice that their parent is gone and exit."""
    proc = _start(tmp_path, "ok_env", "--num_workers=2", "--train_for_seconds=300")
    _wait_first_fps(proc)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 2
    proc.kill()
    proc.wait(timeout=10)
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], [p.cmdline()[-1:] for p in alive]
