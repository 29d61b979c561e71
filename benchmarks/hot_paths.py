"""Per-sample cost of our two CPU hot paths for the tuned CartPole command (issue 4, "Performance").

`Learner.train()` on a synthetic CartPole-shaped dataset (T=32, B=16: 512 samples, one epoch, one minibatch) and the
inference call sequence `model.normalize_obs(obs)` + `model(normalized, rnn_states)` (eval mode, inference_mode) at
several batch sizes, with torch.set_num_threads(1). Prints microseconds per sample, the minimum over repeats (the least
disturbed measurement on a shared machine), of wall-clock time and of this thread's CPU time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import torch

from sample_factory.algo.learning.learner import Learner
from sample_factory.algo.utils.env_info import EnvInfo
from sample_factory.cfg.arguments import default_cfg
from sample_factory.model.model_factory import reset_global_context
from sample_factory.utils.malloc_tuning import tune_malloc

OBS_DIM, NUM_ACTIONS, T, B = 4, 2, 32, 16
TUNED_OVERRIDES: dict[str, Any] = dict(
    device="cpu", use_rnn=False, recurrence=1, num_envs_per_worker=20, policy_workers_per_policy=2,
    with_vtrace=False, batch_size=512, reward_scale=0.1, rollout=T, seed=0,
)  # fmt: skip


def make_cfg(**overrides: Any) -> Any:
    """The default CartPole config with the tuned command's options (and `overrides`)."""
    cfg = default_cfg(env="CartPole-v1", experiment="hot_paths")
    for k, v in {**TUNED_OVERRIDES, **overrides}.items():
        setattr(cfg, k, v)
    return cfg


def make_learner(cfg: Any) -> Learner:
    reset_global_context()
    obs_space = gym.spaces.Dict({"obs": gym.spaces.Box(-4.8, 4.8, (OBS_DIM,))})
    env_info = EnvInfo(obs_space=obs_space, action_space=gym.spaces.Discrete(NUM_ACTIONS), num_agents=1)
    learner = Learner(cfg, env_info, policy_id=0)
    learner.init()
    return learner


def synthetic_dataset(learner: Learner, seed: int = 0) -> dict[str, Any]:
    """A CartPole-shaped dataset of B trajectories of T steps (episodes end ~every 25 steps, all samples valid)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, NUM_ACTIONS, generator=g) * 0.1
    actions = torch.randint(0, NUM_ACTIONS, (B, T), generator=g)
    log_probs = torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    dones = torch.rand(B, T, generator=g) < 0.04
    return {
        "obs": {"obs": torch.randn(B, T + 1, OBS_DIM, generator=g)},
        "rnn_states": torch.zeros(B, T + 1, 1),
        "actions": actions,
        "action_logits": logits,
        "log_prob_actions": log_probs,
        "values": torch.randn(B, T, generator=g) * 0.1,
        "rewards": torch.ones(B, T),
        "dones": dones,
        "time_outs": torch.zeros(B, T, dtype=torch.bool),
        "policy_version": torch.full((B, T), learner.train_step, dtype=torch.int64),
        "policy_id": torch.zeros(B, T, dtype=torch.int64),
    }


def _us_per_sample(fn: Callable[[], None], samples_per_call: int, calls: int, repeats: int) -> tuple[float, float]:
    """(wall, cpu): the minimum over `repeats` timings of `calls` calls of `fn`, in microseconds per sample.

    cpu is this thread's CPU time (time.thread_time): it leaves out the time other processes held the core.
    """
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            fn()
        c1, t1 = time.thread_time(), time.perf_counter()
        wall.append((t1 - t0) * 1e6 / (calls * samples_per_call))
        cpu.append((c1 - c0) * 1e6 / (calls * samples_per_call))
    return min(wall), min(cpu)


def bench_train(repeats: int, calls: int) -> tuple[float, float]:
    cfg = make_cfg()
    learner = make_learner(cfg)
    dataset = synthetic_dataset(learner)

    def one() -> None:
        dataset["policy_version"].fill_(learner.train_step)  # keep every sample valid, as fresh data would be
        learner.train(dataset)

    return _us_per_sample(one, B * T, calls, repeats)


def bench_inference(batch_sizes: Sequence[int], repeats: int, calls: int) -> dict[int, tuple[float, float]]:
    learner = make_learner(make_cfg())
    model = learner.actor_critic
    model.eval()
    g = torch.Generator().manual_seed(1)
    results = {}
    for bs in batch_sizes:
        obs = {"obs": torch.randn(bs, OBS_DIM, generator=g)}
        rnn_states = torch.zeros(bs, 1)

        def one(obs: dict[str, torch.Tensor] = obs, rnn_states: torch.Tensor = rnn_states) -> None:
            with torch.inference_mode():
                normalized = model.normalize_obs(obs)
                model(normalized, rnn_states)

        results[bs] = _us_per_sample(one, bs, max(1, calls * 40 // bs), repeats)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15, help="timings per measurement (min and median reported)")
    parser.add_argument("--train-calls", type=int, default=5, help="train() calls per timing")
    parser.add_argument("--inference-calls", type=int, default=50, help="forward calls per timing at batch 40")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[10, 20, 40, 256])
    parser.add_argument(
        "--no-malloc-tuning", action="store_true", help="keep glibc's default thresholds (training processes tune them)"
    )
    args = parser.parse_args(argv)
    tuned = False if args.no_malloc_tuning else tune_malloc()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, malloc tuning {'on' if tuned else 'off'}, "
        f"{args.repeats} repeats; us/sample (min)"
    )
    print("path       samples     wall      cpu")
    wall, cpu = bench_train(args.repeats, args.train_calls)
    print(f"train()       {B * T:4d}  {wall:7.2f}  {cpu:7.2f}")
    for bs, (wall, cpu) in bench_inference(args.batch_sizes, args.repeats, args.inference_calls).items():
        print(f"inference     {bs:4d}  {wall:7.2f}  {cpu:7.2f}")


if __name__ == "__main__":
    main()
