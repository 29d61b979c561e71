"""Worker start-up (sample_factory/algo/utils/process_start.py): the start method, the fork server's workers seeing
the runner's environment, and the liveness check that workers use to notice a killed runner."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import time

import pytest

from sample_factory.algo.utils.process_start import process_alive, start_method

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "support", "process_start_train.py")


def test_start_method_default_and_override(monkeypatch):
    monkeypatch.delenv("SF_START_METHOD", raising=False)
    assert start_method() == ("forkserver" if sys.platform != "win32" else "spawn")
    for method in ("spawn", "fork", "forkserver"):
        monkeypatch.setenv("SF_START_METHOD", method)
        assert start_method() == method
    monkeypatch.setenv("SF_START_METHOD", "thread")
    with pytest.raises(ValueError, match="SF_START_METHOD='thread'"):
        start_method()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="zombie state read from /proc")
def test_process_alive_is_false_for_exited_and_zombie_processes():
    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while process_alive(child.pid) and time.monotonic() < deadline:  # exited, not reaped yet: a zombie
        time.sleep(0.05)
    assert not process_alive(child.pid)
    assert child.poll() is not None  # now reaped: the pid no longer exists
    assert not process_alive(child.pid)


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_workers_start_from_the_chosen_method_and_see_the_runners_environment(tmp_path, method):
    env = {k: v for k, v in os.environ.items() if k != "SF_TEST_SET_AFTER_SERVER_START"}
    env["SF_START_METHOD"] = method
    cmd = [
        sys.executable, SCRIPT, "--env=probe_env", "--experiment=ps", f"--train_dir={tmp_path}", "--device=cpu",
        "--num_workers=2", "--num_envs_per_worker=2", "--rollout=8", "--batch_size=32", "--use_rnn=False",
        "--decorrelate_envs_on_one_worker=False", "--train_for_env_steps=2000",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, cwd=str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"main pid (\d+), fork server started: (True|False)", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    main_pid, server = int(m.group(1)), m.group(2) == "True"
    assert server == (method == "forkserver")
    records = [json.load(open(p)) for p in glob.glob(os.path.join(tmp_path, "env_*.json"))]
    workers = [r for r in records if r["pid"] != main_pid]
    assert len({r["pid"] for r in workers}) == 2, records  # one process per rollout worker, 2 envs each
    assert len(workers) == 4, records
    # the variable was set after the fork server had started: the launcher hands the runner's environment over
    assert all(r["late_var"] == "yes" for r in workers), workers
    # every worker process has a torch random stream of its own (forked ones would otherwise share the server's):
    # the first env each worker builds draws different numbers
    firsts = {}
    for r in sorted(workers, key=lambda r: r["env_id"]):
        firsts.setdefault(r["pid"], r["torch_draw"])
    assert len(firsts) == 2 and len({tuple(v) for v in firsts.values()}) == 2, workers
    if method == "forkserver":
        assert all(r["ppid"] != main_pid for r in workers), (main_pid, workers)  # forked by the server
    else:
        assert all(r["ppid"] == main_pid for r in workers), (main_pid, workers)
