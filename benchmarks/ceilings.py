"""This machine's throughput ceilings for CartPole training: raw env steps/s and the model's per-sample cost.

Measures gymnasium CartPole-v1 (one env in a loop; the vectorised CartPole at N envs) and, for the tuned command's
MLP and the default MLP+GRU model, inference and train-step cost per sample at 1 and 2 torch threads. Prints tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


@dataclasses.dataclass
class Rate:
    """Units of work per second over timed chunks: `best` (the least disturbed chunk) and `median`."""

    best: float
    median: float


def _timed_chunks(fn: Callable[[], int], seconds: float, chunks: int = 10) -> Rate:
    """Runs `fn` (returns units of work done) for about `seconds`, split in `chunks`; the rate per chunk.

    The best chunk is the ceiling estimate on a shared machine (other load only ever slows a chunk down).
    """
    rates = []
    per_chunk = seconds / chunks
    for _ in range(chunks):
        done, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < per_chunk:
            done += fn()
        rates.append(done / elapsed)
    return Rate(best=max(rates), median=statistics.median(rates))


# ----------------------------------------------------------------------------------------------------------------------
# Environment ceilings
# ----------------------------------------------------------------------------------------------------------------------


def single_env_steps_per_s(seconds: float = 2.0, env_id: str = "CartPole-v1", unwrapped: bool = False) -> Rate:
    """Steps/s of one `gym.make(env_id)` env (with its default wrappers unless `unwrapped`), random actions."""
    import gymnasium as gym

    env = gym.make(env_id)
    target = env.unwrapped if unwrapped else env
    target.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, size=4096).tolist()
    idx = 0

    def chunk() -> int:
        nonlocal idx
        n = 1000
        for _ in range(n):
            _, _, term, trunc, _ = target.step(actions[idx & 4095])
            idx += 1
            if term or trunc:
                target.reset()
        return n

    chunk()  # warm-up
    rate = _timed_chunks(chunk, seconds)
    env.close()
    return rate


def vector_env_steps_per_s(num_envs: int = 20, seconds: float = 2.0, env_id: str = "CartPole-v1") -> Rate:
    """Env steps/s (vector steps x num_envs) of gymnasium's own vectorised env (`vector_entry_point`), autoreset."""
    import gymnasium as gym

    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, 2, size=num_envs) for _ in range(64)]
    idx = 0

    def chunk() -> int:
        nonlocal idx
        n = 100
        for _ in range(n):
            env.step(actions[idx & 63])
            idx += 1
        return n * num_envs

    chunk()
    rate = _timed_chunks(chunk, seconds)
    env.close()
    return rate


# ----------------------------------------------------------------------------------------------------------------------
# Model ceilings
# ----------------------------------------------------------------------------------------------------------------------


def _us_per_unit(rate: Rate) -> Rate:
    """Converts samples/s into microseconds per sample (best = the lowest cost)."""
    return Rate(best=1e6 / rate.best, median=1e6 / rate.median)


def build_model(kind: str, obs_dim: int = 4, num_actions: int = 2, hidden: int = 512) -> Any:
    """`mlp`: obs->512->512 ELU + action logits + value heads. `gru`: the same MLP, then a GRU(512), then heads."""
    import torch
    from torch import nn

    class Model(nn.Module):
        def __init__(self, use_rnn: bool) -> None:
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU())
            self.core = nn.GRU(hidden, hidden) if use_rnn else None
            self.action_head = nn.Linear(hidden, num_actions)
            self.value_head = nn.Linear(hidden, 1)

        def forward(
            self, obs: torch.Tensor, h: torch.Tensor | None = None
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
            # obs: (T, B, obs_dim) for the GRU model, (B, obs_dim) for the MLP.
            x = self.encoder(obs)
            if self.core is not None:
                x, h = self.core(x, h)
            return self.action_head(x), self.value_head(x).squeeze(-1), h

    if kind not in ("mlp", "gru"):
        raise ValueError(f"unknown model kind {kind!r}")
    return Model(kind == "gru")


def num_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def inference_us_per_sample(kind: str, batch: int, threads: int, seconds: float = 1.0) -> Rate:
    """Microseconds per sample of one forward pass (inference mode) at `batch`; GRU steps one time step with state."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(kind).eval()
    if kind == "gru":
        obs = torch.randn(1, batch, 4)
        h = torch.zeros(1, batch, 512)
    else:
        obs, h = torch.randn(batch, 4), None

    def chunk() -> int:
        with torch.inference_mode():
            for _ in range(10):
                model(obs, h)
        return 10 * batch

    chunk()
    return _us_per_unit(_timed_chunks(chunk, seconds))


def train_us_per_sample(kind: str, batch: int, threads: int, seconds: float = 1.0, recurrence: int = 32) -> Rate:
    """Microseconds per sample of forward + PPO-like loss + backward + Adam step on a minibatch of `batch` samples.

    The GRU model trains on `batch // recurrence` sequences of `recurrence` steps (upstream default recurrence 32).
    """
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(kind).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    if kind == "gru":
        seqs = max(1, batch // recurrence)
        obs = torch.randn(recurrence, seqs, 4)
        h0 = torch.zeros(1, seqs, 512)
        actions = torch.randint(0, 2, (recurrence, seqs))
        adv, returns = torch.randn(recurrence, seqs), torch.randn(recurrence, seqs)
        old_logp = torch.full((recurrence, seqs), -0.69)
    else:
        obs, h0 = torch.randn(batch, 4), None
        actions = torch.randint(0, 2, (batch,))
        adv, returns = torch.randn(batch), torch.randn(batch)
        old_logp = torch.full((batch,), -0.69)
    n = actions.numel()

    def chunk() -> int:
        for _ in range(3):
            logits, values, _ = model(obs, h0)
            logp = torch.log_softmax(logits, dim=-1)
            new_logp = logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
            ratio = torch.exp(new_logp - old_logp)
            policy_loss = -torch.min(ratio * adv, ratio.clamp(0.9, 1.1) * adv).mean()
            entropy = -(logp.exp() * logp).sum(-1).mean()
            loss = policy_loss + 0.5 * (values - returns).pow(2).mean() - 0.003 * entropy
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 4.0)
            opt.step()
        return 3 * n

    chunk()
    return _us_per_unit(_timed_chunks(chunk, seconds))


# ----------------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or "unknown"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--env-seconds", type=float, default=2.0, help="measuring time per env figure")
    p.add_argument("--model-seconds", type=float, default=1.0, help="measuring time per model figure")
    p.add_argument("--num-envs", type=int, default=20, help="envs in the vectorised CartPole")
    p.add_argument("--infer-batch", type=int, nargs="+", default=[256])
    p.add_argument("--train-batch", type=int, nargs="+", default=[512])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--recurrence", type=int, default=32, help="sequence length of the GRU train step")
    p.add_argument("--skip-env", action="store_true")
    p.add_argument("--skip-model", action="store_true")
    p.add_argument("--json", default=None, help="also write the numbers here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import gymnasium as gym
    import torch

    results: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "gymnasium": gym.__version__,
            "numpy": np.__version__,
        },
        "env": {},
        "model": [],
    }
    print(f"# ceilings on {results['cpu_model']} ({results['cpu_count']} cores), {results['date']}")
    print(f"# {results['versions']}, load average before: {results['load_average_before']}\n")

    if not args.skip_env:
        env_rows = [
            ("CartPole-v1, gym.make, one env", lambda: single_env_steps_per_s(args.env_seconds)),
            ("CartPole-v1, unwrapped, one env", lambda: single_env_steps_per_s(args.env_seconds, unwrapped=True)),
            (
                f"CartPole-v1, make_vec vector_entry_point x{args.num_envs}",
                lambda: vector_env_steps_per_s(args.num_envs, args.env_seconds),
            ),
        ]
        print("| env | steps/s, best chunk | steps/s, median chunk |\n|---|---|---|")
        for name, measure in env_rows:
            rate = measure()
            results["env"][name] = dataclasses.asdict(rate)
            print(f"| {name} | {rate.best:,.0f} | {rate.median:,.0f} |", flush=True)
        print()

    if not args.skip_model:
        print(
            "| model | params | op | batch | threads | us/sample, best | us/sample, median | samples/s, best |\n"
            "|---|---|---|---|---|---|---|---|"
        )
        for kind in ("mlp", "gru"):
            params = num_params(build_model(kind))
            label = "MLP 4-512-512 ELU + heads" if kind == "mlp" else "MLP 512x512 + GRU 512 + heads (default)"
            ops = [("forward (inference)", b) for b in args.infer_batch]
            train_op = "fwd+bwd+Adam" + (f" (seq {args.recurrence})" if kind == "gru" else "")
            ops += [(train_op, b) for b in args.train_batch]
            for op, batch in ops:
                for threads in args.threads:
                    if op == train_op:
                        us = train_us_per_sample(kind, batch, threads, args.model_seconds, args.recurrence)
                    else:
                        us = inference_us_per_sample(kind, batch, threads, args.model_seconds)
                    results["model"].append(
                        {"model": label, "params": params, "op": op, "batch": batch, "threads": threads}
                        | {"us_best": us.best, "us_median": us.median}
                    )
                    print(
                        f"| {label} | {params:,} | {op} | {batch} | {threads} | {us.best:.2f} | {us.median:.2f} "
                        f"| {1e6 / us.best:,.0f} |",
                        flush=True,
                    )
        print()

    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"# load average after: {results['load_average_after']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
