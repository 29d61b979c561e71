"""Our learner against upstream 2.1.1's on identical data: same initial weights, same datasets, N SGD steps.

Builds N CartPole-shaped datasets (B=16 trajectories x T=32 steps, the tuned command's shape; seeded), runs
upstream's `Learner.train` on them in `.upstream_venv` (a subprocess: upstream needs numpy 1.x), loads upstream's
initial weights into our `Learner` and trains it on the same datasets, then prints for every parameter and
normalizer buffer |ours - upstream| / |upstream - initial| (Frobenius norms) after each step.

Data conventions differ and are converted, not compared: upstream's buffers hold rewards already multiplied by
`--reward_scale` (its sampler scales them; ours scales in the learner), a [B, T+1] values tensor and float actions
of shape [B, T, 1].

    python benchmarks/learner_parity.py [--steps 5] [--tolerance 0.05]

Exit code 1 when a relative difference exceeds --tolerance (Adam's sign-like steps amplify float noise in
parameters whose gradients are near zero, so a few per mille is expected; a real formula difference shows as tens
of percent), 2 when upstream's venv is missing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hot_paths import B, T, make_cfg, make_learner  # noqa: E402
from run_side_by_side import UPSTREAM_PYTHON  # noqa: E402

TUNED_ARGV = (
    "--env=CartPole-v1 --device=cpu --use_rnn=False --recurrence=1 --num_envs_per_worker=20 "
    "--policy_workers_per_policy=2 --with_vtrace=False --batch_size=512 --reward_scale=0.1 --seed=0"
)
REWARD_SCALE = 0.1

# runs in upstream's venv: argv = data path, output path, train_dir
_UPSTREAM_SCRIPT = r"""
import copy, sys, torch
data_path, out_path, train_dir = sys.argv[1:4]
sys.argv = ["x"]
from sf_examples.train_gym_env import register_custom_components, parse_custom_args
from sample_factory.algo.learning.learner import Learner
from sample_factory.algo.utils.env_info import extract_env_info
from sample_factory.algo.utils.make_env import make_env_func_batched
from sample_factory.algo.utils.model_sharing import ParameterServer
from sample_factory.algo.utils.tensor_dict import TensorDict
from sample_factory.utils.attr_dict import AttrDict
register_custom_components()
cfg = parse_custom_args(ARGV.split() + ["--experiment=parity", "--train_dir=" + train_dir])
env = make_env_func_batched(cfg, env_config=AttrDict(worker_index=0, vector_index=0, env_id=0))
env_info = extract_env_info(env, cfg)
versions = torch.zeros(1, dtype=torch.int32)
learner = Learner(cfg, env_info, versions, 0, ParameterServer(0, versions, serial_mode=True))
learner.init()
init = copy.deepcopy(learner.actor_critic.state_dict())
after = []
for d in torch.load(data_path):
    b, t = d["actions"].shape
    batch = TensorDict(
        obs=TensorDict(obs=d["obs"].clone()),
        rnn_states=torch.zeros(b, t + 1, 1),
        actions=d["actions"].clone().float().unsqueeze(-1),
        action_logits=d["action_logits"].clone(),
        log_prob_actions=d["log_prob_actions"].clone(),
        values=torch.cat([d["values"], torch.zeros(b, 1)], 1),
        rewards=d["rewards"].clone() * REWARD_SCALE,
        dones=d["dones"].clone().float(),
        time_outs=d["time_outs"].clone().float(),
        policy_version=d["policy_version"].clone().float(),
        policy_id=torch.zeros(b, t, dtype=torch.int32),
        valids=torch.zeros(b, t + 1, dtype=torch.bool),
    )
    learner.train(batch)
    after.append(copy.deepcopy(learner.actor_critic.state_dict()))
torch.save(dict(init=init, after=after), out_path)
"""


def make_datasets(n: int, seed: int = 123) -> list[dict[str, torch.Tensor]]:
    """n datasets in our layout (rewards unscaled), each collected by policy version k (fresh for step k)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(n):
        logits = torch.randn(B, T, 2, generator=g) * 0.3
        actions = torch.randint(0, 2, (B, T), generator=g)
        dones = torch.rand(B, T, generator=g) < 0.05
        out.append(
            {
                "obs": torch.randn(B, T + 1, 4, generator=g) * torch.tensor([1.0, 0.5, 0.1, 0.5]) + 0.2,
                "actions": actions,
                "action_logits": logits,
                "log_prob_actions": torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1),
                "values": torch.randn(B, T, generator=g) * 0.5,
                "rewards": torch.ones(B, T),
                "dones": dones,
                "time_outs": dones & (torch.rand(B, T, generator=g) < 0.3),
                "policy_version": torch.full((B, T), k, dtype=torch.int64),
            }
        )
    return out


def run_upstream(datasets: list[dict[str, torch.Tensor]], workdir: str) -> dict[str, Any]:
    data_path, out_path = os.path.join(workdir, "data.pt"), os.path.join(workdir, "upstream.pt")
    script = os.path.join(workdir, "upstream_learner.py")
    torch.save(datasets, data_path)
    code = _UPSTREAM_SCRIPT.replace("ARGV", repr(TUNED_ARGV)).replace("REWARD_SCALE", repr(REWARD_SCALE))
    Path(script).write_text(code)
    res = subprocess.run(
        [str(UPSTREAM_PYTHON), script, data_path, out_path, os.path.join(workdir, "train_dir")],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    if res.returncode != 0:
        raise RuntimeError(f"upstream's learner failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return torch.load(out_path, weights_only=False)  # type: ignore[no-any-return]


def relative_differences(
    ours: dict[str, torch.Tensor], ref: dict[str, torch.Tensor], init: dict[str, torch.Tensor]
) -> dict[str, float]:
    """|ours - ref| / |ref - init| per entry (0 where neither moved)."""
    out = {}
    for name, r in ref.items():
        a, b, i = ours[name].double(), r.double(), init[name].double()
        moved = (b - i).norm().item()
        diff = (a - b).norm().item()
        out[name] = 0.0 if moved == 0.0 and diff == 0.0 else diff / max(moved, 1e-30)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="datasets = SGD steps (one minibatch each)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="largest relative difference accepted")
    args = parser.parse_args(argv)
    if not Path(UPSTREAM_PYTHON).exists():
        print(f"no upstream venv at {UPSTREAM_PYTHON}: run bash benchmarks/setup_upstream.sh", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    datasets = make_datasets(args.steps)
    with tempfile.TemporaryDirectory() as workdir:
        up = run_upstream(datasets, workdir)
    learner = make_learner(make_cfg())
    learner.actor_critic.load_state_dict(up["init"])
    worst = 0.0
    for k, d in enumerate(datasets):
        dataset = {**{key: v.clone() for key, v in d.items() if key != "obs"}, "obs": {"obs": d["obs"].clone()}}
        dataset["rnn_states"] = torch.zeros(B, T + 1, 1)
        dataset["policy_id"] = torch.zeros(B, T, dtype=torch.int64)
        learner.train(dataset)
        rel = relative_differences(learner.actor_critic.state_dict(), up["after"][k], up["init"])
        print(f"after step {k + 1}: |ours - upstream| / |upstream's change|")
        for name, r in rel.items():
            print(f"  {name:68s} {r:8.4f}")
        worst = max(worst, *rel.values())
    print(f"largest relative difference: {worst:.4f} (tolerance {args.tolerance})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
