"""Tests of the benchmark harness: console-log parser, process-tree memory sums, run bookkeeping, ceilings' models.

Uses fake log lines (copied in form from upstream 2.1.1's console), fake psutil-like processes, TensorBoard event
files written with torch's SummaryWriter (what both frameworks use), and short fake "training" scripts driven through
`run_once` and the harness's `main`.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import textwrap
import types
from collections import namedtuple
from pathlib import Path

import psutil
import pytest

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


sbs = _load("run_side_by_side")

# Upstream 2.1.1 prints these (colour codes included) on its console.
UP_FPS_NAN = (
    "\x1b[36m[2026-11-26 23:09:00,198][06942] Fps is (10 sec: nan, 60 sec: nan, 300 sec: nan). Total num frames: 6656. "
    "Throughput: 0: nan. Samples: 0. Policy #0 lag: (min: 0.0, avg: 0.0, max: 0.0)\x1b[0m\n"
)
UP_FPS = (
    "\x1b[36m[2026-11-26 23:09:15,198][06942] Fps is (10 sec: 10598.4, 60 sec: 10035.2, 300 sec: 10035.2). "
    "Total num frames: 157184. Throughput: 0: 9905.4. Samples: 148580. Policy #0 lag: (min: 0.0, avg: 1.2, max: 3.0)"
    "\x1b[0m\n"
)
UP_REWARD = "\x1b[36m[2026-11-26 23:09:30,200][06942] Avg episode reward: [(0, '499.980')]\x1b[0m\n"


# ----------------------------------------------------------------------------------------------------------------------
# Line parsers
# ----------------------------------------------------------------------------------------------------------------------


def test_parse_fps_line_upstream_numeric() -> None:
    r = sbs.parse_fps_line(UP_FPS, t=3.5)
    assert r is not None
    assert (r.t, r.fps10, r.fps60, r.fps300, r.total_frames) == (3.5, 10598.4, 10035.2, 10035.2, 157184)


def test_parse_fps_line_nan_and_plain() -> None:
    r = sbs.parse_fps_line(UP_FPS_NAN)
    assert r is not None and math.isnan(r.fps10) and math.isnan(r.fps300) and r.total_frames == 6656
    plain = "Fps is (10 sec: 9345.2, 60 sec: nan, 300 sec: nan). Total num frames: 123456. Throughput: 0: 9300.1."
    r = sbs.parse_fps_line(plain)
    assert r is not None and r.fps10 == 9345.2 and math.isnan(r.fps60) and r.total_frames == 123456


def test_parse_fps_line_rejects_other_lines() -> None:
    assert sbs.parse_fps_line(UP_REWARD) is None
    assert sbs.parse_fps_line("[..] Collected {0: 365568}, FPS: 8684.7") is None
    assert sbs.parse_fps_line("") is None


def test_parse_reward_line() -> None:
    assert sbs.parse_reward_line(UP_REWARD) == {0: 499.98}
    assert sbs.parse_reward_line("Avg episode reward: [(0, '475.123')]") == {0: 475.123}
    two = "[x] Avg episode reward: [(0, '-12.5'), (1, '30.000')]"
    assert sbs.parse_reward_line(two) == {0: -12.5, 1: 30.0}
    assert sbs.parse_reward_line("Avg episode reward: [(0, 12.25)]") == {0: 12.25}  # unquoted
    nan = sbs.parse_reward_line("Avg episode reward: [(0, 'nan')]")
    assert nan is not None and math.isnan(nan[0])
    assert sbs.parse_reward_line("Saving new best policy, reward=305.680!") is None
    assert sbs.parse_reward_line(UP_FPS) is None


# ----------------------------------------------------------------------------------------------------------------------
# LogParser and the FPS figures
# ----------------------------------------------------------------------------------------------------------------------


def _fps(fps10: float, frames: int) -> str:
    return f"Fps is (10 sec: {fps10}, 60 sec: nan, 300 sec: nan). Total num frames: {frames}. Throughput: 0: 1."


def _reward(r: float | str) -> str:
    return f"Avg episode reward: [(0, '{r}')]"


def _feed_fake_run(parser) -> None:  # type: ignore[no-untyped-def]
    lines = [
        (1.0, "some start-up line"),
        (10.0, _fps(float("nan"), 1000)),
        (10.0, _reward("nan")),
        (15.0, _fps(4000.0, 21000)),  # first numeric: start-up 15 s
        (15.0, _reward(100.0)),
        (20.0, _fps(8000.0, 61000)),
        (20.0, _reward(300.0)),
        (25.0, _fps(9000.0, 106000)),  # 10 s after first numeric: steady window starts here
        (25.0, _reward(474.99)),
        (30.0, _fps(10000.0, 156000)),
        (30.0, _reward(475.0)),  # target reached here, at 156000 frames
        (35.0, _fps(11000.0, 211000)),
        (35.0, _reward(480.0)),
        (40.0, _fps(6000.0, 241000)),
        (40.0, _reward(470.0)),
    ]
    for t, line in lines:
        parser.feed(line, t)


def test_log_parser_summary_hand_computed() -> None:
    p = sbs.LogParser(target_reward=475.0)
    _feed_fake_run(p)
    s = p.summary(warmup_s=10.0)
    assert s["startup_s"] == 15.0
    assert s["first_fps_line_s"] == 10.0
    assert s["time_to_target_s"] == 30.0
    assert s["frames_at_target"] == 156000
    # steady readings: t=25,30,35,40 -> fps10 9000, 10000, 11000, 6000 -> median 9500
    assert s["steady_fps"] == 9500.0
    # from the last reading before the window (t=20, 61000) to the last (t=40, 241000): 180000 / 20 s
    assert s["mean_fps_after_warmup"] == pytest.approx(9000.0)
    assert s["max_fps10"] == 11000.0
    assert s["num_fps_readings"] == 6
    assert s["final_frames"] == 241000
    assert s["best_reward"] == 480.0 and s["last_reward"] == 470.0


def test_log_parser_target_not_reached() -> None:
    p = sbs.LogParser(target_reward=500.0)
    _feed_fake_run(p)
    assert not p.target_reached
    s = p.summary()
    assert s["time_to_target_s"] is None and s["frames_at_target"] is None


def test_zero_readings_before_first_frames_are_start_up() -> None:
    # Pong: both frameworks print `10 sec: 0.0 ... Total num frames: 0` for ~20 s until the first rollouts count.
    p = sbs.LogParser(target_reward=0.0)
    for t, line in [
        (10.0, _fps(float("nan"), 0)),
        (15.0, _fps(0.0, 0)),  # first numeric line: start-up by the old rule
        (20.0, _fps(0.0, 0)),
        (25.0, _fps(0.0, 0)),
        (30.0, _fps(409.6, 4096)),  # first frames: the steady window is counted from here
        (35.0, _fps(819.2, 8192)),
        (40.0, _fps(819.2, 12288)),
        (45.0, _fps(819.2, 16384)),
        (50.0, _fps(409.6, 20480)),
    ]:
        p.feed(line, t)
    s = p.summary(warmup_s=10.0)
    assert s["startup_s"] == 15.0 and s["first_frames_s"] == 30.0
    # steady readings t=40,45,50 (not the zeros at 25-30 s) -> median 819.2
    assert s["steady_fps"] == 819.2
    # from t=35 (8192) to t=50 (20480): 12288 frames / 15 s
    assert s["mean_fps_after_warmup"] == pytest.approx(12288 / 15)
    # frames counted already on the `nan` line (upstream's CartPole does this): first frames there
    q = sbs.LogParser()
    q.feed(UP_FPS_NAN, 11.0)
    q.feed(UP_FPS, 16.0)
    assert q.summary()["first_frames_s"] == 11.0 and q.summary()["startup_s"] == 16.0


def test_steady_fps_short_run_and_empty() -> None:
    R = sbs.FpsReading
    nan = float("nan")
    assert sbs.steady_fps([R(1.0, nan, nan, nan, 0)]) is None
    assert sbs.mean_fps_after_warmup([]) is None
    # all readings inside the warm-up: drop only the first numeric one
    short = [
        R(5.0, nan, nan, nan, 0),
        R(10.0, 100.0, nan, nan, 10),
        R(15.0, 300.0, nan, nan, 20),
        R(20, 500.0, 0, 0, 30),
    ]
    assert sbs.steady_fps(short, warmup_s=60.0) == 400.0
    assert sbs.steady_fps(short[:2], warmup_s=60.0) == 100.0  # one numeric reading: use it


def test_parse_saved_log_roundtrip() -> None:
    saved = [
        "[    2.000] starting\n",
        f"[   11.581] {UP_FPS_NAN}",
        f"[   16.581] {UP_FPS}",
        f"[   16.582] {UP_REWARD}",
    ]
    s = sbs.parse_saved_log(saved, target=475.0)
    assert s["startup_s"] == 16.581
    assert s["time_to_target_s"] == 16.582 and s["frames_at_target"] == 157184
    assert sbs.parse_saved_log(saved, target=600.0)["time_to_target_s"] is None


# ----------------------------------------------------------------------------------------------------------------------
# Memory of a process tree
# ----------------------------------------------------------------------------------------------------------------------

Full = namedtuple("Full", "rss uss pss")
Basic = namedtuple("Basic", "rss vms")


class FakeProc:
    def __init__(self, full=None, basic=None, exc: Exception | None = None, full_exc: Exception | None = None):  # type: ignore[no-untyped-def]
        self.full, self.basic, self.exc, self.full_exc = full, basic, exc, full_exc

    def memory_full_info(self):  # type: ignore[no-untyped-def]
        if self.exc is not None:
            raise self.exc
        if self.full_exc is not None:
            raise self.full_exc
        return self.full

    def memory_info(self):  # type: ignore[no-untyped-def]
        if self.exc is not None:
            raise self.exc
        return self.basic


def test_sum_tree_memory_sums_and_skips_vanished() -> None:
    procs = [
        FakeProc(Full(100, 60, 80)),
        FakeProc(Full(200, 150, 170)),
        FakeProc(exc=psutil.NoSuchProcess(123)),  # exited between listing and reading
    ]
    s = sbs.sum_tree_memory(procs, t=1.5)
    assert (s.t, s.num_procs, s.rss, s.uss, s.pss) == (1.5, 2, 300, 210, 250)
    assert s.primary() == ("pss", 250)


def test_sum_tree_memory_partial_information() -> None:
    # access denied to smaps: RSS only for that process, so USS/PSS sums would be partial -> None
    procs = [FakeProc(Full(100, 60, 80)), FakeProc(basic=Basic(50, 999), full_exc=psutil.AccessDenied(7))]
    s = sbs.sum_tree_memory(procs)
    assert (s.num_procs, s.rss, s.uss, s.pss) == (2, 150, None, None)
    assert s.primary() == ("rss", 150)
    # a platform with USS but no PSS
    UssOnly = namedtuple("UssOnly", "rss uss")
    s = sbs.sum_tree_memory([FakeProc(UssOnly(10, 7)), FakeProc(UssOnly(20, 5))])
    assert s.primary() == ("uss", 12) and s.pss is None
    empty = sbs.sum_tree_memory([])
    assert (empty.num_procs, empty.rss, empty.uss, empty.pss) == (0, 0, None, None)


def test_peak_tracker_keeps_each_peak() -> None:
    M = sbs.MemSample
    tr = sbs.PeakTracker()
    for s in [M(0.0, 1, 100, 50, 70), M(0.5, 3, 400, 200, 300), M(1.0, 4, 350, 220, 290), M(1.5, 0, 0, None, None)]:
        tr.add(s)
    assert tr.samples == 3  # the empty sample (tree gone) is ignored
    assert (tr.peak_rss, tr.peak_uss, tr.peak_pss, tr.peak_procs) == (400, 220, 300, 4)
    assert (tr.primary_metric, tr.peak_primary) == ("pss", 300)


def test_tree_memory_sampler_with_fake_tree() -> None:
    trees = iter([[FakeProc(Full(10, 5, 6))], [FakeProc(Full(10, 5, 6)), FakeProc(Full(30, 20, 25))]] + [[]] * 1000)
    sampler = sbs.TreeMemorySampler(root_pid=1, interval=0.01, tree_fn=lambda pid: next(trees))
    first = sampler.sample_once()
    assert (first.num_procs, first.pss) == (1, 6)
    second = sampler.sample_once()
    assert (second.num_procs, second.rss, second.uss, second.pss) == (2, 40, 25, 31)
    assert sampler.peak.peak_pss == 31 and sampler.peak.peak_procs == 2
    assert [row[1:] for row in sampler.timeline] == [(1, 6), (2, 31)]


def test_sum_tree_memory_real_process() -> None:
    s = sbs.sum_tree_memory(sbs.process_tree(psutil.Process().pid))
    assert s.num_procs >= 1 and s.rss > 1_000_000
    if s.pss is not None:  # Linux: PSS and USS never exceed RSS
        assert s.uss is not None and s.uss <= s.pss <= s.rss


# ----------------------------------------------------------------------------------------------------------------------
# Commands, schedule, report
# ----------------------------------------------------------------------------------------------------------------------


def test_run_order_alternates() -> None:
    assert sbs.run_order(3, None) == ["ours", "upstream"] * 3
    assert sbs.run_order(2, "upstream") == ["upstream", "upstream"]


def test_build_command_and_env() -> None:
    cmd = sbs.build_command("upstream", "cartpole_tuned", ["--seed=3"], 500000, "/tmp/x", "e1")
    assert cmd[0].endswith(".upstream_venv/bin/python")
    assert cmd[1:3] == ["-m", "sf_examples.train_gym_env"]
    assert "--batch_size=512" in cmd and "--device=cpu" in cmd
    assert cmd[-4:] == ["--seed=3", "--train_for_env_steps=500000", "--train_dir=/tmp/x", "--experiment=e1"]
    ours = sbs.build_command("ours", "cartpole_default", [], 10, "/t", "e")
    assert ours[0] == sys.executable and ours[1:5] == [
        "-m",
        "sf_examples.train_gym_env",
        "--env=CartPole-v1",
        "--device=cpu",
    ]
    with pytest.raises(ValueError):
        sbs.build_command("ours", "nope", [], 1, "/t", "e")
    timed = sbs.build_command("upstream", "cartpole_tuned", [], 10, "/t", "e", summaries_interval=1)
    assert timed[:-1] == sbs.build_command("upstream", "cartpole_tuned", [], 10, "/t", "e")
    assert timed[-1] == "--experiment_summaries_interval=1"
    up_env = sbs.build_env("upstream", {"PYTHONPATH": "/somewhere", "HOME": "/root"})
    assert up_env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1" and "PYTHONPATH" not in up_env
    our_env = sbs.build_env("ours", {})
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in our_env and our_env["PYTHONUNBUFFERED"] == "1"
    assert our_env["PYTHONPATH"] == str(sbs.REPO_ROOT)
    # upstream's PYTHONPATH is the shim directory alone, for ours the shim is ignored
    up_shim = sbs.build_env("upstream", {"PYTHONPATH": "/somewhere"}, upstream_pythonpath="/tmp/shim")
    assert up_shim["PYTHONPATH"] == "/tmp/shim"
    assert sbs.build_env("ours", {}, upstream_pythonpath="/tmp/shim")["PYTHONPATH"] == str(sbs.REPO_ROOT)


@pytest.mark.parametrize("preset", ["atari_pong", "envpool_pong"])
def test_atari_presets_give_both_frameworks_the_same_args(preset: str) -> None:
    ours = sbs.build_command("ours", preset, ["--seed=1"], 1000, "/t", "e")
    up = sbs.build_command("upstream", preset, ["--seed=1"], 1000, "/t", "e")
    assert ours[1:] == up[1:]
    assert "--env=atari_pong" in ours and "--device=cpu" in ours and "--num_workers=2" in ours
    # upstream's EnvPool Atari script rejects --envpool_num_threads ("unrecognized arguments")
    assert not any(a.startswith("--envpool_num_threads") for a in ours)
    assert sbs.UPSTREAM_PRELOAD.get("atari_pong") == ("ale_py",) and "envpool_pong" not in sbs.UPSTREAM_PRELOAD


def test_preload_shim_runs_in_every_upstream_process(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        sbs.preload_shim_source(["os; import evil"])
    assert "import ale_py" in sbs.preload_shim_source(["ale_py"])
    # a module that only the shim directory has: it records each process that imports it
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "marker_mod.py").write_text(
        "import os\nwith open(os.environ['MARKER_FILE'], 'a') as f:\n    f.write(f'{os.getpid()}\\n')\n"
    )
    path = sbs.write_preload_shim(["marker_mod"], shim)
    assert path == str(shim) and (shim / "sitecustomize.py").exists()
    marker = tmp_path / "pids.txt"
    code = (
        "import multiprocessing as mp, os\n"
        "if __name__ == '__main__':\n"
        "    p = mp.get_context('spawn').Process(target=os.getpid)\n"
        "    p.start(); p.join()\n"
        "    print(os.getpid(), p.pid)\n"
    )
    env = sbs.build_env("upstream", {"PATH": "/usr/bin:/bin", "MARKER_FILE": str(marker)}, upstream_pythonpath=path)
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    main_pid, child_pid = res.stdout.split()
    assert set(marker.read_text().split()) >= {main_pid, child_pid}


def test_upstream_check_reports_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sbs.UPSTREAM_CHECKS, "ok", "import sys")
    monkeypatch.setitem(sbs.UPSTREAM_CHECKS, "bad", "raise SystemExit('ale_py registers no ALE/Pong-v5')")
    assert sbs.upstream_check("ok", python=sys.executable) is None
    assert sbs.upstream_check("bad", python=sys.executable) == "ale_py registers no ALE/Pong-v5"


def _fake_run(fw: str, fps: float, tt: float | None, mem: int, stt: float | None = None, points: int = 0) -> dict:
    return {
        "summary_time_to_target_s": stt,
        "summary_frames_at_target": None if stt is None else int(stt * 10000),
        "summary_points": points,
        "summary_first_frames_s": 3.0 if points else None,
        "framework": fw,
        "steady_fps": fps,
        "mean_fps_after_warmup": fps,
        "startup_s": 10.0,
        "first_frames_s": 12.0,
        "time_to_target_s": tt,
        "frames_at_target": 300000 if tt else None,
        "best_reward": 480.0,
        "exit_code": 0,
        "stop_reason": "exited",
        "memory": {"primary_metric": "pss", "peak_primary": mem, "peak_rss": 2 * mem, "peak_procs": 8},
    }


def test_summarize_and_table() -> None:
    runs = [
        _fake_run("ours", 30000.0, 15.0, 1 * sbs.GIB),
        _fake_run("upstream", 9000.0, 50.0, 2 * sbs.GIB),
        _fake_run("ours", 28000.0, None, 1 * sbs.GIB),
        _fake_run("upstream", 10000.0, 54.0, 2 * sbs.GIB),
    ]
    s = sbs.summarize(runs)
    assert s["frameworks"]["ours"]["steady_fps"] == 29000.0
    # a run that never reached the target counts as slower than any that did: one of two reached -> no median
    assert s["frameworks"]["ours"]["time_to_target_s"] is None and s["frameworks"]["ours"]["target_reached_runs"] == 1
    assert s["frameworks"]["ours"]["frames_at_target"] is None and s["ratios"]["time_to_target_s"] is None
    assert s["frameworks"]["upstream"]["time_to_target_s"] == 52.0
    assert s["ratios"]["steady_fps"] == pytest.approx(29000 / 9500)
    assert s["ratios"]["peak_mem_bytes"] == pytest.approx(0.5)
    table = sbs.markdown_table(runs, 475.0)
    assert "| ours | 2 | 28,000 |" in table and "| upstream | 1 | 9,000 |" in table
    assert "PSS" in table and "3.05x" in table
    assert "| ours | 2 | 28,000 | 28,000 | 10.0 | 12.0 |" in table and "first frames s" in table
    assert s["ratios"]["first_frames_s"] == 1.0 and s["ratios"]["mean_fps_after_warmup"] == pytest.approx(29000 / 9500)
    assert "| - (1/2 reached) |" in table and "| 52.0 (2/2 reached) |" in table
    three = sbs.summarize([*runs, _fake_run("ours", 29000.0, 20.0, sbs.GIB)])["frameworks"]["ours"]
    assert three["time_to_target_s"] == 20.0 and three["target_reached_runs"] == 2  # median of 15, 20 and a miss
    # runs without reward summaries are not judged by them: "-" in the table, no median
    assert s["frameworks"]["ours"]["summary_runs"] == 0 and s["frameworks"]["ours"]["summary_time_to_target_s"] is None
    assert "| - (0/0 reached) |" in table and "| - | - |" in table  # no ratio where either side has no median


def test_summarize_summaries_based_time_to_target() -> None:
    runs = [
        _fake_run("ours", 30000.0, 25.0, sbs.GIB, stt=16.0, points=20),
        _fake_run("upstream", 9000.0, 50.0, 2 * sbs.GIB, stt=48.0, points=50),
        _fake_run("ours", 30000.0, None, sbs.GIB, stt=18.0, points=20),  # the console missed what the summaries saw
        _fake_run("upstream", 9000.0, None, 2 * sbs.GIB, stt=None, points=50),  # a real miss
        _fake_run("ours", 30000.0, 30.0, sbs.GIB, stt=None, points=0),  # no summaries: not judged
        _fake_run("upstream", 9000.0, 60.0, 2 * sbs.GIB, stt=52.0, points=50),
    ]
    s = sbs.summarize(runs)
    ours, up = s["frameworks"]["ours"], s["frameworks"]["upstream"]
    assert (ours["summary_runs"], ours["summary_reached_runs"], ours["summary_time_to_target_s"]) == (2, 2, 17.0)
    assert ours["summary_frames_at_target"] == 170000
    # upstream: 48, 52 and a miss (counted as slowest) -> 52
    assert (up["summary_runs"], up["summary_reached_runs"], up["summary_time_to_target_s"]) == (3, 2, 52.0)
    assert s["ratios"]["summary_time_to_target_s"] == pytest.approx(17.0 / 52.0)
    table = sbs.markdown_table(runs, 475.0)
    assert "| 475 by summaries: s | frames |" in table
    assert "| 16.0 | 160,000 |" in table and "| miss | miss |" in table and "| - | - |" in table
    assert "| 3.0 | 17.0 (2/2 reached) |" in table and "| 52.0 (2/3 reached) |" in table and "| 0.33x |" in table
    assert s["ratios"]["summary_first_frames_s"] == 1.0


def test_summary_figures_hand_computed() -> None:
    reward = [(1000.0, 0, 9.0), (1002.5, 20, math.nan), (1004.0, 30, 474.9), (1006.5, 40, 475.0), (1008, 50, 500.0)]
    scalars = {"reward/reward": reward, "perf/_fps": [(998.0, 0, 0.0), (999.5, 12, 5.0)]}
    assert sbs.summary_figures(scalars, 475.0, launched_at=996.0) == {
        "summary_time_to_target_s": 10.5,
        "summary_frames_at_target": 40,
        "summary_points": 5,
        "summary_first_frames_s": 3.5,  # perf/_fps at 12 env steps, 999.5 - 996.0
    }
    never = sbs.summary_figures(scalars, 501.0, launched_at=996.0)
    assert (never["summary_time_to_target_s"], never["summary_frames_at_target"]) == (None, None)
    assert sbs.summary_figures({}, 475.0, 0.0) == {
        "summary_time_to_target_s": None,
        "summary_frames_at_target": None,
        "summary_points": 0,
        "summary_first_frames_s": None,
    }


def test_read_scalar_summaries_from_real_event_files(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    exp = tmp_path / "exp"
    for policy, values in ((0, [(100, 50.0), (300, 480.0)]), (1, [(200, 476.0)])):
        w = SummaryWriter(str(exp / ".summary" / str(policy)))
        for step, value in values:
            w.add_scalar("reward/reward", value, step)
            w.add_scalar("reward/reward_max", 999.0, step)
        w.close()
    scalars = sbs.read_scalar_summaries(exp)
    assert set(scalars) == {"reward/reward", "reward/reward_max"}
    assert [(step, value) for _, step, value in scalars["reward/reward"]] == [(100, 50.0), (300, 480.0), (200, 476.0)]
    assert all(t > 1e9 for t, _, _ in scalars["reward/reward"])  # epoch seconds, sorted
    assert sbs.read_scalar_summaries(tmp_path / "nothing") == {}


def test_dry_run_prints_alternating_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert sbs.main(["--dry-run", "--repeats", "2", "--frames", "1000"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:4]] == ["[0] ours", "[1] upstream", "[2] ours", "[3] upstream"]
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1" in out[1] and "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in out[0]
    assert all("--train_for_env_steps=1000" in line for line in out[:4])
    assert out[-1].startswith("# limit") and "target 475" in out[-1]


def test_dry_run_atari_pong_shim_for_upstream_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert sbs.main(["--dry-run", "--preset", "atari_pong", "--repeats", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"PYTHONPATH={sbs.REPO_ROOT} " in out[0] and "<shim>" not in out[0]
    assert "PYTHONPATH=<shim> " in out[1] and str(sbs.REPO_ROOT) + " " not in out[1]
    assert any("import ale_py" in line for line in out)
    assert "target 0," in out[-1]  # the Pong presets' default target
    assert sbs.main(["--dry-run", "--preset", "envpool_pong", "--repeats", "1", "--target", "5"]) == 0
    out = capsys.readouterr().out
    assert "<shim>" not in out and "target 5," in out


# ----------------------------------------------------------------------------------------------------------------------
# run_once end to end on a fake "training" script
# ----------------------------------------------------------------------------------------------------------------------

FAKE_TRAINER = textwrap.dedent(
    """
    import multiprocessing as mp, signal, sys, time

    def child(ready):
        blob = bytearray(64 * 1024 * 1024)  # 64 MiB, touched
        for i in range(0, len(blob), 4096):
            blob[i] = 1
        ready.set()
        time.sleep(30)

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        ready = ctx.Event()
        p = ctx.Process(target=child, args=(ready,), daemon=True)
        p.start()
        ready.wait(20)
        print("\\x1b[36m" + "Fps is (10 sec: nan, 60 sec: nan, 300 sec: nan). Total num frames: 0." + "\\x1b[0m")
        frames = 0
        try:
            for k, fps in enumerate([1000.0, 2000.0, 3000.0, 4000.0] + [5000.0] * 100):
                time.sleep(0.15)
                frames += 500
                print(f"Fps is (10 sec: {fps}, 60 sec: nan, 300 sec: nan). Total num frames: {frames}. Samples: 1")
                print(f"Avg episode reward: [(0, '{100.0 * k:.3f}')]")
        except KeyboardInterrupt:
            print("interrupted")
            p.terminate()
            sys.exit(3)
    """
)


def test_run_once_on_fake_trainer(tmp_path: Path) -> None:
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE_TRAINER)
    res = sbs.run_once(
        "ours",
        [sys.executable, str(script)],
        sbs.build_env("ours"),
        cwd=str(tmp_path),
        seconds=30.0,
        target=300.0,
        warmup_s=0.2,
        mem_interval=0.1,
        log_path=tmp_path / "run.log",
        stop_at_target=True,
        grace_s=5.0,
    )
    assert res["stop_reason"] == "target_reached"
    assert res["exit_code"] == 3  # the script's own Ctrl+C path ran
    assert res["leftover_processes"] == 0
    assert res["startup_s"] is not None and res["startup_s"] < res["time_to_target_s"] < 10.0
    assert res["frames_at_target"] == 2000  # reward 300 printed after the 4th numeric Fps line
    mem = res["memory"]
    assert mem["peak_procs"] >= 2
    assert mem["peak_rss"] > 64 * 1024 * 1024 and mem["peak_primary"] > 60 * 1024 * 1024
    assert "interrupted" in (tmp_path / "run.log").read_text()


FAKE_TB_TRAINER = textwrap.dedent(
    """
    import argparse, os, sys, time
    from torch.utils.tensorboard import SummaryWriter

    p = argparse.ArgumentParser()
    p.add_argument("--train_dir")
    p.add_argument("--experiment")
    p.add_argument("--experiment_summaries_interval", type=int, required=True)
    p.add_argument("--train_for_env_steps", type=int)
    args = p.parse_args()
    w = SummaryWriter(os.path.join(args.train_dir, args.experiment, ".summary", "0"))
    print("Fps is (10 sec: nan, 60 sec: nan, 300 sec: nan). Total num frames: 0.", flush=True)
    for frames, reward, on_console in ((1000, 100.0, True), (2000, 480.0, False), (3000, 300.0, True)):
        time.sleep(0.3)
        w.add_scalar("reward/reward", reward, frames)
        w.flush()
        if on_console:  # the console's coarser reports miss the peak
            print(f"Fps is (10 sec: 5000.0, 60 sec: nan, 300 sec: nan). Total num frames: {frames}.", flush=True)
            print(f"Avg episode reward: [(0, '{reward:.3f}')]", flush=True)
    w.close()
    """
)


def test_main_times_the_target_from_the_runs_summaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "fake_tb_trainer.py"
    script.write_text(FAKE_TB_TRAINER)
    monkeypatch.setitem(sbs.PRESETS, "fake_tb", [str(script)])
    out = tmp_path / "result.json"
    argv = ["--preset", "fake_tb", "--only", "ours", "--repeats", "1", "--seconds", "60", "--pause", "0"]
    assert sbs.main([*argv, "--no-warm-imports", "--out", str(out)]) == 0
    import json

    run = json.loads(out.read_text())["runs"][0]
    assert run["exit_code"] == 0 and run["command"].endswith("--experiment_summaries_interval=1")
    assert run["time_to_target_s"] is None  # never on the console
    assert run["summary_points"] == 3 and run["summary_frames_at_target"] == 2000
    assert 0.3 < run["summary_time_to_target_s"] < run["wall_s"]
    assert 0.2 < run["summary_first_frames_s"] < run["summary_time_to_target_s"]


# ----------------------------------------------------------------------------------------------------------------------
# ceilings.py models (parameter counts by hand)
# ----------------------------------------------------------------------------------------------------------------------


def test_ceiling_models_parameter_counts() -> None:
    ceilings = _load("ceilings")
    mlp = 4 * 512 + 512 + 512 * 512 + 512
    heads = 512 * 2 + 2 + 512 + 1
    gru = 3 * (2 * 512 * 512 + 2 * 512)
    assert ceilings.num_params(ceilings.build_model("mlp")) == mlp + heads == 266_755
    assert ceilings.num_params(ceilings.build_model("gru")) == mlp + gru + heads == 1_842_691
    rate = ceilings._us_per_unit(ceilings.Rate(best=1e6, median=5e5))
    assert (rate.best, rate.median) == (1.0, 2.0)


# ----------------------------------------------------------------------------------------------------------------------
# env_ceilings.py
# ----------------------------------------------------------------------------------------------------------------------


def test_env_ceilings_args_and_format() -> None:
    ec = _load("env_ceilings")
    a = ec.parse_args(["--envpool_envs", "16"])
    assert a.cases == ec.PONG_CASES and a.envpool_async_batch == 8 and 1 in a.procs
    with pytest.raises(SystemExit):
        ec.parse_args(["--envpool_envs", "4", "--envpool_async_batch", "5"])
    line = ec.format_result(
        {"case": "ale_bare_2proc", "frames_per_s": 12345.6, "per_process_frames_per_s": [6000, 6345.6]}
    )
    assert line.split()[:3] == ["ale_bare_2proc", "12,346", "frames/s"] and "6,000, 6,346" in line
    assert "steps/s" in ec.format_result({"case": "envpool_hopper_16envs_2threads", "frames_per_s": 1.0})


def test_env_ceilings_envpool_kwargs_match_our_integration(monkeypatch: pytest.MonkeyPatch) -> None:
    ec = _load("env_ceilings")
    captured: dict = {}

    class Stop(Exception):
        pass

    def fake_make(task_id: str, env_type: str, **kwargs: object) -> None:
        captured.update(kwargs, task_id=task_id)
        raise Stop

    monkeypatch.setitem(sys.modules, "envpool", types.SimpleNamespace(make=fake_make))
    from sample_factory.utils.attr_dict import AttrDict
    from sf_examples.envpool.atari.envpool_atari_utils import make_envpool_atari_env

    cfg = AttrDict(
        env_agents=16, envpool_num_threads=2, envpool_thread_affinity_offset=-1, env_frameskip=4, env_framestack=4
    )
    with pytest.raises(Stop):
        make_envpool_atari_env("atari_pong", cfg, None)
    ours = {k: v for k, v in captured.items() if k not in ("thread_affinity_offset",)}
    assert ours.pop("task_id") == "Pong-v5"
    assert ec.envpool_atari_kwargs(16, 2, 16) == ours


def test_env_ceilings_measure_for_real() -> None:
    ec = _load("env_ceilings")
    r = ec.run_single_env_case("ale_bare", 0.3, 1)  # a fresh process, ALE directly
    assert r["case"] == "ale_bare_1proc" and r["frames"] > 0 and r["frames"] % 4 == 0 and r["frames_per_s"] > 0
    a = ec.envpool_pong_async(0.3, 4, 1, 2)
    assert a["frames"] > 0 and a["frames"] % 8 == 0 and a["frames_per_s"] > 0  # batches of 2 envs x 4 frames


def test_env_ceilings_child_failures_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    ec = _load("env_ceilings")

    def raising(seed: int) -> object:
        raise OSError("no ROM")

    def dying(seed: int) -> object:
        os._exit(3)

    monkeypatch.setitem(ec.SINGLE_ENV_CASES, "raising", raising)
    monkeypatch.setitem(ec.SINGLE_ENV_CASES, "dying", dying)
    with pytest.raises(RuntimeError, match="OSError: no ROM"):
        ec.run_single_env_case("raising", 0.1, 2)
    with pytest.raises(RuntimeError, match="exit code 3"):
        ec.run_single_env_case("dying", 0.1, 1)
