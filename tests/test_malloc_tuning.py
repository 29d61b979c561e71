"""The allocator thresholds of training processes (sample_factory/utils/malloc_tuning.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# the tuned CartPole command's learner step (benchmarks/hot_paths.py) 30 times; prints whether the tuning is on and
# the page faults those steps took
_PROBE = """
import resource, sys, torch
sys.path.insert(0, {bench!r})
from sample_factory.utils.malloc_tuning import tune_malloc
on = tune_malloc()
from hot_paths import make_cfg, make_learner, synthetic_dataset
torch.set_num_threads(1)
learner = make_learner(make_cfg())
dataset = synthetic_dataset(learner)
def steps(n):
    for _ in range(n):
        dataset["policy_version"].fill_(learner.train_step)
        learner.train(dataset, with_stats=False)
steps(5)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
steps(30)
print(on, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
_BENCH = str(Path(__file__).resolve().parents[1] / "benchmarks")


def _probe(**env: str) -> tuple[bool, int]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "SF_MALLOC_TUNING"}
    full_env.update(env)
    code = _PROBE.format(bench=_BENCH)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, check=True)
    on, faults = out.stdout.split()[-2:]
    return on == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_learner_steps_reuse_freed_memory_without_page_faults() -> None:
    off, faults_off = _probe(SF_MALLOC_TUNING="0")
    on, faults_on = _probe()
    assert not off and on
    # glibc's defaults give the freed activations back to the OS and fault them in again at the next step
    # (measured: 330-490 pages per step); tuned, a step reuses the heap (measured 1-17 per step: Python's own arenas
    # and the odd heap growth still fault a few pages)
    assert faults_off > 30 * 100, faults_off
    assert faults_on * 10 < faults_off, (faults_on, faults_off)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_users_own_malloc_settings_win() -> None:
    on, _ = _probe(MALLOC_TRIM_THRESHOLD_="1048576")
    assert not on
