"""Rollout worker: steps its envs (in `worker_num_splits` groups) and writes experience into trajectory buffers.

One split steps while the other waits for actions (double-buffered sampling). With fused inference (the CPU layout:
the worker runs its own inference in its own thread) nothing overlaps, so when the worker's trajectory pool holds
at least `MERGE_SPLITS_MIN_ROUNDS` rounds of its slots, its envs form one split: the same steps in the same order
with half the per-split messages and bookkeeping (~10% less sampler CPU per sample, measured on CartPole).
With fewer rounds a merged split would wait until the learner had freed a whole worker's round of buffers, which
measured slower (tuned CartPole: 20 envs per worker, 2 rounds). Completed trajectories go to the
learner of the policy that collected them; learners return the indices when they no longer need them.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from sample_factory.algo.utils.buffers import TrajectoryBuffers
from sample_factory.algo.utils.env_info import EnvInfo
from sample_factory.algo.utils.make_env import SlotEnv, env_seed, make_env_func_batched
from sample_factory.envs.env_utils import set_reward_shaping, set_training_info
from sample_factory.utils.attr_dict import AttrDict
from sample_factory.utils.typing import Config

MERGE_SPLITS_MIN_ROUNDS = 4
MSG_ACTIONS = "act"
MSG_FREE = "free"
MSG_STOP = "stop"
MSG_TRAINING_INFO = "train_info"
MSG_REWARD_SHAPING = "shaping"


def effective_num_splits(cfg: Config, fused: bool, pool_size: int, slots_per_worker: int) -> int:
    """`worker_num_splits`, or 1 for a fused-inference worker whose pool holds `MERGE_SPLITS_MIN_ROUNDS` rounds."""
    if fused and pool_size >= MERGE_SPLITS_MIN_ROUNDS * slots_per_worker:
        return 1
    return cfg.worker_num_splits


def _action_row(action: object) -> np.ndarray:
    """One sampled env action as a flat float row (Tuple parts concatenated), as batched envs expect."""
    if isinstance(action, tuple | list):
        return np.concatenate([np.asarray(a, dtype=np.float32).reshape(-1) for a in action])
    return np.asarray(action, dtype=np.float32).reshape(-1)


class _Split:
    """Envs stepped together; all their slots are at the same step `t` of their trajectories."""

    def __init__(self, envs: list[SlotEnv], first_slot: int, global_env_ids: list[int]) -> None:
        self.envs = envs
        self.global_env_ids = global_env_ids
        self.num_slots = sum(e.num_agents for e in envs)
        self.first_slot = first_slot
        self.traj = np.zeros(self.num_slots, dtype=np.int64)
        self.policy = np.zeros(self.num_slots, dtype=np.int64)
        self.active = np.ones(self.num_slots, dtype=bool)
        self.active_prev = np.ones(self.num_slots, dtype=bool)
        self.episode_ended = np.ones(self.num_slots, dtype=bool)
        self.ep_reward = np.zeros(self.num_slots, dtype=np.float64)
        self.ep_len = np.zeros(self.num_slots, dtype=np.int64)
        self.t = 0
        self.pending = 0
        self.waiting_for_buffers = False
        self.pending_obs: dict[str, np.ndarray] = {}
        # single-agent envs with plain array observations take the fast stepping path
        self.plain = all(
            not e.multi
            and e.obs_keys == ["obs"]
            and not isinstance(getattr(e.env, "observation_space", None), gym.spaces.Dict)
            for e in envs
        )
        self.raw_envs = [e.env for e in envs]
        if self.plain:
            space = envs[0].observation_space["obs"]
            self.obs_buf = np.zeros((self.num_slots, *(space.shape or ())), dtype=space.dtype)
            self.rew_buf = np.zeros(self.num_slots, dtype=np.float32)
            self.term_buf = np.zeros(self.num_slots, dtype=bool)
            self.trunc_buf = np.zeros(self.num_slots, dtype=bool)
            self.infos: list[dict] = [{} for _ in range(self.num_slots)]


class RolloutWorker:
    def __init__(
        self,
        cfg: Config,
        env_info: EnvInfo,
        worker_idx: int,
        buffers: TrajectoryBuffers,
        traj_pool: list[int],
        channels: Any,
        heartbeats: torch.Tensor,
        component_id: int,
    ) -> None:
        self.cfg, self.env_info, self.worker_idx = cfg, env_info, worker_idx
        self.buffers, self.channels = buffers, channels
        self.inbox = channels.rollout[worker_idx]
        self.free_traj: list[int] = list(traj_pool)
        self.policy_pools: dict[int, list[int]] | None = None  # sync mode with several policies: a pool per policy
        self.pool_of: dict[int, int] = {}
        self.heartbeats = heartbeats.numpy()
        self.component_id = component_id
        self.name = f"RolloutWorker_w{worker_idx}"
        self.T = cfg.rollout
        slots_w = cfg.num_envs_per_worker * env_info.num_agents
        self.num_splits = effective_num_splits(cfg, getattr(channels, "fused", False), len(traj_pool), slots_w)
        self.splits: list[_Split] = []
        self.episodes: list[tuple] = []
        self.last_stats_sent = time.monotonic()
        self.timing: dict[str, float] = defaultdict(float)
        self.frameskip = env_info.frameskip if cfg.summaries_use_frameskip else 1
        self.num_requests = 0
        self.rng = random.Random(worker_idx if cfg.seed is None else cfg.seed * 7919 + worker_idx)
        self._np = {k: v.numpy() for k, v in buffers.obs.items()}
        self._np_actions = buffers.actions.numpy()
        self._np_rewards = buffers.rewards.numpy()
        self._np_dones = buffers.dones.numpy()
        self._np_time_outs = buffers.time_outs.numpy()
        self._np_policy_id = buffers.policy_id.numpy()
        self._np_rnn = buffers.rnn_states.numpy()

    # ------------------------------------------------------------------ setup
    def init(self) -> None:
        from sample_factory.model.action_distributions import actions_to_env

        self._actions_to_env = actions_to_env
        cfg = self.cfg
        envs_per_split = cfg.num_envs_per_worker // self.num_splits
        slot = 0
        for s in range(self.num_splits):
            envs, ids = [], []
            for j in range(envs_per_split):
                local_env_idx = s * envs_per_split + j
                global_env_idx = self.worker_idx * cfg.num_envs_per_worker + local_env_idx
                env_config = AttrDict(worker_index=self.worker_idx, vector_index=local_env_idx, env_id=global_env_idx)
                envs.append(make_env_func_batched(cfg, env_config, render_mode=None))
                ids.append(global_env_idx)
            split = _Split(envs, slot, ids)
            slot += split.num_slots
            self.splits.append(split)
        self._partition_pool_by_policy()
        if cfg.decorrelate_experience_max_seconds > 0 and not cfg.benchmark:
            time.sleep(self.worker_idx / max(cfg.num_workers, 1) * cfg.decorrelate_experience_max_seconds)
        for s, split in enumerate(self.splits):
            self._reset_split(s, split)
            self._start_trajectories(split, initial=True)
            self._request_inference(s, split)

    def _partition_pool_by_policy(self) -> None:
        """Sync mode with several policies: env i always acts for policy i % num_policies, and each policy gets its
        own share of this worker's trajectory buffers (its slots times the rounds per dataset). A split then starts
        its next trajectories for policy p only with buffers that p's learner has released, i.e. after p trained on
        the previous round, so no experience is collected by an outdated version (lag 0, as sync mode promises)."""
        if self.cfg.async_rl or self.cfg.num_policies == 1:
            return
        for split in self.splits:
            self._assign_policies(split, initial=True)
        slots = np.bincount(np.concatenate([sp.policy for sp in self.splits]), minlength=self.cfg.num_policies)
        rounds = len(self.free_traj) // max(int(slots.sum()), 1)
        self.policy_pools, self.pool_of = {}, {}
        for p, n in enumerate(slots.tolist()):
            take = self.free_traj[: n * rounds]
            del self.free_traj[: n * rounds]
            self.policy_pools[p] = take
            self.pool_of.update(dict.fromkeys(take, p))
        self.free_traj = []

    def _take_buffers(self, split: _Split) -> np.ndarray | None:
        """Fresh trajectory buffers for every slot of the split (from its policies' pools in sync multi-policy mode),
        or None when not enough are free yet."""
        n = split.num_slots
        if self.policy_pools is None:
            if len(self.free_traj) < n:
                return None
            new = np.asarray(self.free_traj[:n], dtype=np.int64)
            del self.free_traj[:n]
            return new
        rows = {p: np.flatnonzero(split.policy == p) for p in np.unique(split.policy).tolist()}
        if any(len(self.policy_pools[p]) < len(r) for p, r in rows.items()):
            return None
        new = np.empty(n, dtype=np.int64)
        for p, r in rows.items():
            pool = self.policy_pools[p]
            new[r] = pool[: len(r)]
            del pool[: len(r)]
        return new

    def _release_buffers(self, indices: list[int]) -> None:
        if self.policy_pools is None:
            self.free_traj.extend(indices)
        else:
            for i in indices:
                self.policy_pools[self.pool_of[i]].append(i)

    def _reset_split(self, s: int, split: _Split) -> None:
        cfg = self.cfg
        envs_per_split = cfg.num_envs_per_worker // self.num_splits
        row = 0
        obs_rows: list[dict[str, np.ndarray]] = []
        for j, env in enumerate(split.envs):
            local_env_idx = s * envs_per_split + j
            global_env_idx = self.worker_idx * cfg.num_envs_per_worker + local_env_idx
            obs, infos = env.reset(seed=env_seed(cfg, global_env_idx))
            if cfg.decorrelate_envs_on_one_worker:
                rows = slice(row, row + env.num_agents)
                obs = self._decorrelate(
                    env, obs, cfg.rollout * local_env_idx, split.ep_reward[rows], split.ep_len[rows]
                )
            obs_rows.append(obs)
            self._update_active(split, row, infos)
            row += env.num_agents
        split.pending_obs = {k: np.concatenate([o[k] for o in obs_rows]) for k in obs_rows[0]}

    def _decorrelate(
        self, env: SlotEnv, obs: dict[str, np.ndarray], num_steps: int, ep_reward: np.ndarray, ep_len: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Random steps so that the envs of a worker are at different points of their episodes. The running
        episode's reward and length (views into the split's accumulators) include them, so that the first reported
        episodes are whole."""
        space = env.action_space
        for _ in range(num_steps):
            mask = obs.get("action_mask") if isinstance(space, gym.spaces.Discrete) else None
            acts = [
                space.sample(mask=mask[i].astype(np.int8)) if mask is not None and mask[i].any() else space.sample()
                for i in range(env.num_agents)
            ]
            rows = np.stack([_action_row(a) for a in acts])
            obs, rew, term, trunc, _ = env.step(rows, acts)
            ep_reward += rew
            ep_len += 1
            done = term | trunc
            ep_reward[done] = 0.0
            ep_len[done] = 0
        return obs

    def _update_active(self, split: _Split, row: int, infos: list[dict]) -> None:
        for i, info in enumerate(infos):
            if isinstance(info, dict) and "is_active" in info:
                split.active[row + i] = bool(info["is_active"])
            else:
                split.active[row + i] = True

    # ----------------------------------------------------------- trajectories
    def _assign_policies(self, split: _Split, initial: bool) -> None:
        cfg = self.cfg
        P = cfg.num_policies
        if P == 1:
            return
        row = 0
        for global_env_idx, env in zip(split.global_env_ids, split.envs):
            n = env.num_agents
            rows = slice(row, row + n)
            if not cfg.async_rl:
                split.policy[rows] = global_env_idx % P
            elif initial or split.episode_ended[rows].any():
                if cfg.pbt_mix_policies_in_one_env:
                    split.policy[rows] = [self.rng.randrange(P) for _ in range(n)]
                else:
                    split.policy[rows] = self.rng.randrange(P)
            row += n

    def _start_trajectories(self, split: _Split, initial: bool) -> bool:
        """Take fresh trajectory buffers for every slot of the split; False when none are free yet."""
        new = self._take_buffers(split)
        if new is None:
            split.waiting_for_buffers = True
            return False
        split.waiting_for_buffers = False
        if initial:
            for k, v in split.pending_obs.items():
                self._np[k][new, 0] = v
            self._np_rnn[new, 0] = 0.0
            split.pending_obs = {}
        else:
            old = split.traj
            for k in self._np:
                self._np[k][new, 0] = self._np[k][old, self.T]
            self._np_rnn[new, 0] = self._np_rnn[old, self.T]
        old_policy = split.policy.copy()
        self._assign_policies(split, initial)
        changed = old_policy != split.policy
        if changed.any() and not initial:
            self._np_rnn[new[changed], 0] = 0.0
        split.episode_ended[:] = False
        split.traj = new
        split.t = 0
        return True

    def _traj_by_policy(self, split: _Split) -> list[tuple[int, list[int]]]:
        """(policy, trajectory indices) for each policy acting in the split (no grouping work with one policy)."""
        if self.cfg.num_policies == 1:
            return [(0, split.traj.tolist())]
        return [(int(p), split.traj[split.policy == p].tolist()) for p in np.unique(split.policy)]

    def _finish_trajectories(self, split: _Split) -> None:
        for p, idx in self._traj_by_policy(split):
            self.channels.learner[p].send(("traj", self.worker_idx, idx))

    # --------------------------------------------------------------- stepping
    def _request_inference(self, s: int, split: _Split) -> None:
        groups = self._traj_by_policy(split)
        split.pending = len(groups)
        for p, idx in groups:
            target = self.channels.inference_target(p, self.worker_idx, self.num_requests)
            target.send(("req", self.worker_idx, s, idx, split.t))
        self.num_requests += 1

    def _step_envs(self, split: _Split, actions: np.ndarray) -> tuple:
        """Step every env of the split; one row per slot in the returned arrays."""
        if split.plain:  # single-agent envs with array observations: no per-env dicts or stacking
            env_actions = self._actions_to_env(split.envs[0].action_space, actions)
            obs, rew, term, trunc, infos = split.obs_buf, split.rew_buf, split.term_buf, split.trunc_buf, split.infos
            for i, env in enumerate(split.raw_envs):
                o, r, te, tr, info = env.step(env_actions[i])
                if te or tr:
                    o, _ = env.reset()
                obs[i], rew[i], term[i], trunc[i], infos[i] = o, r, te, tr, info
            return {"obs": obs}, rew, term, trunc, infos
        row = 0
        obs_parts, rew_parts, term_parts, trunc_parts, infos = [], [], [], [], []
        for env in split.envs:
            n = env.num_agents
            rows = actions[row : row + n]
            o, r, te, tr, inf = env.step(rows, self._actions_to_env(env.action_space, rows))
            obs_parts.append(o)
            rew_parts.append(r)
            term_parts.append(te)
            trunc_parts.append(tr)
            infos.extend(inf if len(inf) == n else [{}] * n)
            row += n
        if len(split.envs) == 1:
            return obs_parts[0], rew_parts[0], term_parts[0], trunc_parts[0], infos
        merged = {k: np.concatenate([o[k] for o in obs_parts]) for k in obs_parts[0]}
        return merged, np.concatenate(rew_parts), np.concatenate(term_parts), np.concatenate(trunc_parts), infos

    def _step_split(self, s: int, split: _Split) -> None:
        t0 = time.perf_counter()
        traj, t = split.traj, split.t
        obs, rew, term, trunc, infos = self._step_envs(split, self._np_actions[traj, t])
        done = term | trunc
        self._record_infos(split, infos, done, rew)
        t1 = time.perf_counter()
        self._np_rewards[traj, t] = rew
        self._np_dones[traj, t] = done
        self._np_time_outs[traj, t] = trunc
        inactive = ~split.active_prev
        if inactive.any():
            self._np_policy_id[traj[inactive], t] = -1
        for k, v in obs.items():
            self._np[k][traj, t + 1] = v
        if done.any():
            self._np_rnn[traj[done], t + 1] = 0.0
            split.episode_ended |= done
        split.t = t + 1
        self.timing["env_step"] += t1 - t0
        self.timing["write_buffers"] += time.perf_counter() - t1
        if split.t == self.T:
            self._finish_trajectories(split)
            if not self._start_trajectories(split, initial=False):
                return
        self._request_inference(s, split)

    def _record_infos(self, split: _Split, infos: list[dict], done: np.ndarray, rew: np.ndarray) -> None:
        split.active_prev[:] = split.active
        split.ep_reward += rew
        split.ep_len += 1
        if any(infos):  # an agent without an `is_active` flag is active (upstream's reading)
            for i, info in enumerate(infos):
                split.active[i] = bool(info.get("is_active", True)) if info else True
        else:  # the usual step: every info empty
            split.active.fill(True)
        for r in np.flatnonzero(done):
            info = infos[r] if r < len(infos) and infos[r] else {}
            extra = info.get("episode_extra_stats")
            rec = info.get("episode")
            self.episodes.append(
                (
                    int(split.policy[r]),
                    float(split.ep_reward[r]),
                    int(split.ep_len[r]) * self.frameskip,
                    float(info.get("true_objective", split.ep_reward[r])),
                    dict(extra) if extra else None,
                    (float(np.asarray(rec["r"]).item()), float(np.asarray(rec["l"]).item())) if rec else None,
                )
            )
            split.ep_reward[r] = 0.0
            split.ep_len[r] = 0

    # ------------------------------------------------------------------- loop
    def step(self, timeout: float) -> bool:
        """Handle whatever arrived; returns False once told to stop."""
        self.heartbeats[self.component_id] = time.time()
        for msg in self.inbox.recv_all(timeout):
            kind = msg[0]
            if kind == MSG_ACTIONS:
                split = self.splits[msg[1]]
                split.pending -= 1
                if split.pending == 0:
                    self._step_split(msg[1], split)
            elif kind == MSG_FREE:
                self._release_buffers(msg[1])
                for s, split in enumerate(self.splits):
                    if split.waiting_for_buffers and self._start_trajectories(split, initial=False):
                        self._request_inference(s, split)
            elif kind == MSG_TRAINING_INFO:
                for split in self.splits:
                    for env in split.envs:
                        set_training_info(env.env, msg[1])
            elif kind == MSG_REWARD_SHAPING:
                for split in self.splits:
                    for env in split.envs:
                        set_reward_shaping(env.env, msg[1], slice(0, env.num_agents))
            elif kind == MSG_STOP:
                return False
        now = time.monotonic()
        if self.episodes and (now - self.last_stats_sent > 1.0 or len(self.episodes) > 200):
            self.channels.runner.send(("episodes", self.episodes))
            self.episodes = []
            self.last_stats_sent = now
        return True

    def report_timing(self) -> None:
        self.channels.runner.send(("timing", self.name, dict(self.timing)))

    def close(self) -> None:
        for split in self.splits:
            for env in split.envs:
                try:
                    env.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
