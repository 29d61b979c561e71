"""Fast evaluation over many envs in parallel worker processes: `do_eval(cfg)`.

Every agent slot of every env contributes the same fixed number of episodes (ceil(sample_env_episodes / slots)),
so short episodes are not over-represented. Writes `eval_p<policy>.csv` (one row per episode) and
`eval_p<policy>_summary.json` (mean/std/min/max of reward and length) into the experiment folder or --csv_folder_name.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import queue
import time
import traceback
from typing import Any

import numpy as np
import torch

from sample_factory.algo.utils.context import child_process_state, install_child_process_state
from sample_factory.algo.utils.env_info import extract_env_info, obtain_env_info
from sample_factory.algo.utils.make_env import env_seed, make_env_func_batched
from sample_factory.algo.utils.misc import ExperimentStatus
from sample_factory.enjoy import EvalError, compute_actions, load_eval_cfg, load_policy, policy_checkpoint_path
from sample_factory.model.action_distributions import actions_to_env
from sample_factory.model.model_utils import get_rnn_size
from sample_factory.utils.attr_dict import AttrDict
from sample_factory.utils.typing import Config, StatusCode
from sample_factory.utils.utils import ensure_dir_exists, experiment_dir, log

__all__ = ["CSV_FIELDS", "do_eval", "episodes_per_slot", "eval_output_paths", "run_eval_worker", "summarize"]

CSV_FIELDS = ["worker", "env", "agent", "episode", "reward", "length", "true_objective"]


def episodes_per_slot(sample_env_episodes: int, num_slots: int) -> int:
    """Episodes each slot contributes: at least `sample_env_episodes` in total, equal for every slot."""
    return max(1, math.ceil(int(sample_env_episodes) / max(1, num_slots)))


def eval_output_paths(cfg: Config) -> tuple[str, str]:
    """(CSV path, summary JSON path) for the evaluated policy."""
    folder = experiment_dir(cfg, mkdir=False)
    if getattr(cfg, "csv_folder_name", None):
        folder = os.path.join(folder, cfg.csv_folder_name)
    name = f"eval_p{int(getattr(cfg, 'policy_index', 0) or 0)}"
    return os.path.join(folder, f"{name}.csv"), os.path.join(folder, f"{name}_summary.json")


def summarize(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, std (population), min and max of reward and length over the episodes."""
    out: dict[str, Any] = {"episodes": len(episodes)}
    for key in ("reward", "length"):
        values = np.asarray([e[key] for e in episodes], dtype=np.float64)
        out[key] = {
            "mean": float(values.mean()) if len(values) else math.nan,
            "std": float(values.std()) if len(values) else math.nan,
            "min": float(values.min()) if len(values) else math.nan,
            "max": float(values.max()) if len(values) else math.nan,
        }
    return out


def run_eval_worker(cfg: Config, worker_idx: int, episodes_per_agent: int) -> list[dict[str, Any]]:
    """Run `cfg.num_envs_per_worker` envs with one CPU model until each agent slot finished its episodes."""
    num_envs = int(cfg.num_envs_per_worker)
    envs = []
    for i in range(num_envs):
        env_id = worker_idx * num_envs + i
        envs.append(make_env_func_batched(cfg, AttrDict(worker_index=worker_idx, vector_index=i, env_id=env_id), None))
    try:
        env_info = extract_env_info(envs[0].env, cfg)
        model, _ = load_policy(cfg, env_info, "cpu")
        n_agents = envs[0].num_agents
        deterministic = bool(getattr(cfg, "eval_deterministic", False))
        space = envs[0].action_space
        obs = []
        for i, env in enumerate(envs):
            o, _ = env.reset(seed=env_seed(cfg, worker_idx * num_envs + i))
            obs.append(o)
        rnn = [torch.zeros((n_agents, get_rnn_size(cfg))) for _ in envs]
        ep_reward = np.zeros((num_envs, n_agents))
        ep_len = np.zeros((num_envs, n_agents), dtype=np.int64)
        done_count = np.zeros((num_envs, n_agents), dtype=np.int64)
        episodes: list[dict[str, Any]] = []
        while True:
            active = [i for i in range(num_envs) if (done_count[i] < episodes_per_agent).any()]
            if not active:
                return episodes
            batch_obs = {k: np.concatenate([obs[i][k] for i in active]) for k in obs[active[0]]}
            actions, new_rnn = compute_actions(model, batch_obs, torch.cat([rnn[i] for i in active]), deterministic)
            for j, i in enumerate(active):
                rows = actions[j * n_agents : (j + 1) * n_agents]
                rnn[i] = new_rnn[j * n_agents : (j + 1) * n_agents].clone()
                obs[i], rew, terminated, truncated, infos = envs[i].step(rows, actions_to_env(space, rows))
                ep_reward[i] += rew
                ep_len[i] += 1
                for agent in np.flatnonzero(np.logical_or(terminated, truncated)):
                    info = infos[agent] if agent < len(infos) and isinstance(infos[agent], dict) else {}
                    if done_count[i, agent] < episodes_per_agent:  # later episodes of a finished slot are dropped
                        reward = float(ep_reward[i, agent])
                        episodes.append(
                            {
                                "worker": worker_idx,
                                "env": i,
                                "agent": int(agent),
                                "episode": int(done_count[i, agent]),
                                "reward": reward,
                                "length": int(ep_len[i, agent]),
                                "true_objective": float(info.get("true_objective", reward)),
                            }
                        )
                    done_count[i, agent] += 1
                    ep_reward[i, agent], ep_len[i, agent] = 0.0, 0
                    rnn[i][agent] = 0.0
    finally:
        for env in envs:
            env.close()


def _worker_main(cfg: Config, worker_idx: int, episodes_per_agent: int, results: Any, state: Any) -> None:
    try:
        install_child_process_state(state)
        torch.set_num_threads(1)
        results.put(("ok", worker_idx, run_eval_worker(cfg, worker_idx, episodes_per_agent)))
    except EvalError as exc:
        results.put(("error", worker_idx, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the main process
        results.put(("error", worker_idx, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def _run_workers(cfg: Config, num_workers: int, per_slot: int) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    state = child_process_state(cfg.env)
    procs = [
        ctx.Process(target=_worker_main, args=(cfg, w, per_slot, results, state), daemon=True)
        for w in range(num_workers)
    ]
    for p in procs:
        p.start()
    episodes: list[dict[str, Any]] = []
    pending = set(range(num_workers))
    try:
        while pending:
            try:
                status, worker_idx, payload = results.get(timeout=1.0)
            except queue.Empty:
                dead = [w for w in pending if not procs[w].is_alive() and procs[w].exitcode not in (None, 0)]
                if dead:
                    raise EvalError(f"Eval worker {dead[0]} died (exit code {procs[dead[0]].exitcode})") from None
                continue
            if status != "ok":
                first = str(payload).strip().splitlines()[0]
                log.debug("Eval worker %d failed:\n%s", worker_idx, payload)
                raise EvalError(f"Eval worker {worker_idx} failed: {first}")
            episodes.extend(payload)
            pending.discard(worker_idx)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    return episodes


def do_eval(cfg: Config) -> StatusCode:
    """Evaluate policy `--policy_index` on `--sample_env_episodes` episodes; CSV + JSON summary. 0 on success."""
    start = time.time()
    try:
        cfg = load_eval_cfg(cfg)
        cfg.episode_counter = True
        cfg.decorrelate_envs_on_one_worker = False
        policy_checkpoint_path(cfg)
        env_info = obtain_env_info(cfg)
        num_workers = max(1, int(cfg.num_workers))
        num_slots = num_workers * int(cfg.num_envs_per_worker) * env_info.num_agents
        per_slot = episodes_per_slot(cfg.sample_env_episodes, num_slots)
        log.info(
            "Evaluating %s on %d workers x %d envs x %d agents, %d episodes each",
            cfg.experiment,
            num_workers,
            cfg.num_envs_per_worker,
            env_info.num_agents,
            per_slot,
        )
        episodes = _run_workers(AttrDict(dict(cfg)), num_workers, per_slot)
    except EvalError as exc:
        log.error("%s", exc)
        return ExperimentStatus.FAILURE

    episodes.sort(key=lambda e: (e["worker"], e["env"], e["agent"], e["episode"]))
    csv_path, summary_path = eval_output_paths(cfg)
    ensure_dir_exists(os.path.dirname(csv_path))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(episodes)
    summary = summarize(episodes)
    summary.update(
        {
            "env": cfg.env,
            "experiment": cfg.experiment,
            "policy_index": int(cfg.policy_index),
            "episodes_per_slot": per_slot,
            "num_slots": num_slots,
            "deterministic": bool(cfg.eval_deterministic),
            "seconds": round(time.time() - start, 3),
        }
    )
    with open(summary_path, "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary))
    log.info("Wrote %d episodes to %s and the summary to %s", len(episodes), csv_path, summary_path)
    return ExperimentStatus.SUCCESS
