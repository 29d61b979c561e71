"""Evaluate a trained policy in one env: render it, record a video, report episode rewards, optionally push to the Hub.

`enjoy(cfg) -> (status, avg_reward)`. Also the policy-loading helpers shared by `eval.py` and `export_onnx.py`:
bad input (missing experiment, no checkpoint, unreadable checkpoint, bad --policy_index) becomes one `EvalError` line.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from sample_factory.algo.learning.checkpoint import CheckpointError, latest_checkpoint_path, load_checkpoint
from sample_factory.algo.utils.env_info import EnvInfo, extract_env_info
from sample_factory.algo.utils.make_env import SlotEnv, make_env_func_batched
from sample_factory.algo.utils.misc import ExperimentStatus
from sample_factory.cfg.arguments import ConfigError, load_from_checkpoint
from sample_factory.model.action_distributions import actions_to_env, argmax_actions
from sample_factory.model.actor_critic import ActorCritic, create_actor_critic
from sample_factory.model.model_utils import get_rnn_size
from sample_factory.utils.attr_dict import AttrDict
from sample_factory.utils.typing import Config, StatusCode
from sample_factory.utils.utils import experiment_dir, log

__all__ = [
    "EnjoyResult",
    "EvalError",
    "compute_actions",
    "display_available",
    "enjoy",
    "eval_render_mode",
    "load_eval_cfg",
    "load_policy",
    "obs_to_tensors",
    "policy_checkpoint_path",
    "policy_device",
]


class EvalError(RuntimeError):
    """A user error found before anything is written (reported as one line, non-zero exit)."""


# ---------------------------------------------------------------- config, checkpoint and model


def load_eval_cfg(cfg: Config) -> AttrDict:
    """The experiment's saved config.json merged with cfg (CLI wins); EvalError if the experiment is missing."""
    exp_dir = experiment_dir(cfg, mkdir=False)
    if not os.path.isdir(exp_dir):
        raise EvalError(
            f"Experiment folder {exp_dir} does not exist: check --train_dir={cfg.train_dir} and "
            f"--experiment={cfg.experiment}"
        )
    try:
        return load_from_checkpoint(cfg)
    except ConfigError as exc:
        raise EvalError(str(exc)) from exc


def policy_checkpoint_path(cfg: Config) -> str:
    """Path of the checkpoint `--load_checkpoint_kind` selects for `--policy_index`; EvalError if there is none."""
    policy_id = int(getattr(cfg, "policy_index", 0) or 0)
    num_policies = int(getattr(cfg, "num_policies", 1) or 1)
    if not 0 <= policy_id < num_policies:
        raise EvalError(
            f"--policy_index={policy_id} is out of range: experiment {cfg.experiment} has {num_policies} "
            f"polic{'y' if num_policies == 1 else 'ies'} (valid: 0..{num_policies - 1})"
        )
    kind = getattr(cfg, "load_checkpoint_kind", "latest") or "latest"
    try:
        path = latest_checkpoint_path(cfg, policy_id, kind)
    except ValueError as exc:
        raise EvalError(str(exc)) from exc
    if path is None:
        prefix = "checkpoint" if kind == "latest" else "best"
        folder = os.path.join(experiment_dir(cfg, mkdir=False), f"checkpoint_p{policy_id}")
        hint = (
            " (try --load_checkpoint_kind=latest)" if kind == "best" else " (has the experiment trained long enough?)"
        )
        raise EvalError(f"No {prefix}_*.pth checkpoint in {folder}{hint}")
    return path


def policy_device(cfg: Config) -> torch.device:
    """CPU for --device=cpu; CUDA for gpu when available, else CPU with a warning."""
    if getattr(cfg, "device", "cpu") == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    log.warning("--device=%s but CUDA is not available: evaluating on the CPU", cfg.device)
    return torch.device("cpu")


def _describe_key_mismatch(missing: list[str], unexpected: list[str]) -> str:
    def short(keys: list[str]) -> str:
        return ", ".join(keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")

    parts = []
    if missing:
        parts.append(f"missing {short(missing)}")
    if unexpected:
        parts.append(f"unexpected {short(unexpected)}")
    return "; ".join(parts)


def load_policy(cfg: Config, env_info: EnvInfo, device: torch.device | str = "cpu") -> tuple[ActorCritic, str]:
    """Build the model from cfg and load the selected checkpoint into it (eval mode). Errors are EvalError lines."""
    path = policy_checkpoint_path(cfg)
    try:
        ckpt = load_checkpoint(path, device)
    except CheckpointError as exc:
        raise EvalError(str(exc)) from exc
    state = ckpt.get("model")
    if not isinstance(state, dict):
        raise EvalError(
            f"Cannot load checkpoint {path}: it has no 'model' state dict (not a Sample Factory checkpoint)"
        )
    model = create_actor_critic(cfg, env_info.obs_space, env_info.action_space)
    model.model_to_device(device)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise EvalError(
            f"Checkpoint {path} does not match the model built from the experiment's config: "
            f"{_describe_key_mismatch(missing, unexpected)}"
        )
    wrong = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if wrong:
        k = wrong[0]
        raise EvalError(
            f"Checkpoint {path} does not match the model built from the experiment's config: {k} has shape "
            f"{tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model"
            + (f" (+{len(wrong) - 1} more)" if len(wrong) > 1 else "")
        )
    model.load_state_dict(state)
    model.eval()
    log.info("Loaded %s (train_step %s, env_steps %s)", path, ckpt.get("train_step"), ckpt.get("env_steps"))
    return model, path


def obs_to_tensors(obs: dict[str, np.ndarray], device: torch.device | str) -> dict[str, torch.Tensor]:
    """Numpy observations -> tensors on `device` (float64 becomes float32, other dtypes are kept)."""
    out = {}
    for key, value in obs.items():
        arr = np.asarray(value)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        out[key] = torch.as_tensor(arr, device=device)
    return out


@torch.no_grad()
def compute_actions(
    model: ActorCritic,
    obs: dict[str, np.ndarray],
    rnn_states: torch.Tensor,
    deterministic: bool,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, torch.Tensor]:
    """One forward pass for a batch of slots: (action rows as numpy, new rnn states)."""
    obs_t = obs_to_tensors(obs, device)
    normalized = model.normalize_obs(obs_t)
    out = model(normalized, rnn_states, action_mask=obs_t.get("action_mask"))
    if deterministic:
        distribution = model.action_distribution()
        assert distribution is not None  # set by the forward pass above
        actions = argmax_actions(distribution)
    else:
        actions = out["actions"]
    return actions.cpu().numpy(), out["new_rnn_states"]


# ---------------------------------------------------------------- rendering


def display_available() -> bool:
    """Whether a window can be opened: on Linux/BSD this needs $DISPLAY or $WAYLAND_DISPLAY."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def eval_render_mode(cfg: Config) -> str | None:
    """'rgb_array' with --save_video, None with --no_render, else 'human' (None, with a warning, without display)."""
    mode: str | None = "human"
    if getattr(cfg, "save_video", False):
        mode = "rgb_array"
    elif getattr(cfg, "no_render", False):
        mode = None
    elif not display_available():
        log.warning(
            "No display found ($DISPLAY is not set): evaluating without rendering (pass --no_render to hide this)"
        )
        mode = None
    if mode != "human" and not display_available():
        # pygame-based envs render off-screen; without this SDL complains about the missing display on stderr
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    return mode


def _frame(env: SlotEnv) -> np.ndarray | None:
    frame = env.render()
    if isinstance(frame, list | tuple):  # some multi-agent envs render one frame per agent
        frame = frame[0] if frame else None
    return None if frame is None else np.asarray(frame)


# ---------------------------------------------------------------- the evaluation loop


@dataclass
class EnjoyResult:
    """Finished episodes of one enjoy run (rewards per episode, in finishing order)."""

    episode_rewards: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    true_objectives: list[float] = field(default_factory=list)
    num_frames: int = 0

    @property
    def mean_reward(self) -> float:
        return float(np.mean(self.episode_rewards)) if self.episode_rewards else math.nan

    @property
    def std_reward(self) -> float:
        return float(np.std(self.episode_rewards)) if self.episode_rewards else math.nan


def _action_repeat(cfg: Config) -> int:
    eval_fs = getattr(cfg, "eval_env_frameskip", None)
    if not eval_fs:
        return 1
    env_fs = int(getattr(cfg, "env_frameskip", 1) or 1)
    if eval_fs <= 0 or env_fs % int(eval_fs) != 0:
        raise EvalError(
            f"--eval_env_frameskip={eval_fs} must divide --env_frameskip={env_fs} (actions are repeated "
            f"env_frameskip/eval_env_frameskip times)"
        )
    return env_fs // int(eval_fs)


def _explicit(cfg: Config, key: str) -> bool:
    return key in (getattr(cfg, "cli_args", None) or {})


class _Enjoy:
    """State of one enjoy run: env, model, per-agent accumulators and the recorded frames."""

    def __init__(self, cfg: Config, env: SlotEnv, model: ActorCritic, device: torch.device, render_mode: str | None):
        self.cfg, self.env, self.model, self.device, self.render_mode = cfg, env, model, device, render_mode
        self.n = env.num_agents
        self.rnn_states = torch.zeros((self.n, get_rnn_size(cfg)), dtype=torch.float32, device=device)
        self.ep_reward = np.zeros(self.n, dtype=np.float64)
        self.ep_len = np.zeros(self.n, dtype=np.int64)
        self.result = EnjoyResult()
        self.frames: list[np.ndarray] = []
        self.recording = render_mode == "rgb_array"
        self.video_frames = int(getattr(cfg, "video_frames", 1e9))
        fps = int(getattr(cfg, "fps", 0) or 0)
        self.frame_period = 1.0 / fps if fps > 0 and render_mode == "human" else 0.0
        self.last_frame_time = time.perf_counter()

    def _record(self) -> None:
        if not self.recording:
            return
        if self.video_frames >= 0 and len(self.frames) >= self.video_frames:
            self.recording = False
            return
        frame = _frame(self.env)
        if frame is not None:
            self.frames.append(frame)

    def _pace(self) -> None:
        if self.frame_period > 0:
            delay = self.frame_period - (time.perf_counter() - self.last_frame_time)
            if delay > 0:
                time.sleep(delay)
            self.last_frame_time = time.perf_counter()

    def _episode_done(self, agent: int, info: dict) -> None:
        reward = float(self.ep_reward[agent])
        if getattr(self.cfg, "use_record_episode_statistics", False) and isinstance(info.get("episode"), dict):
            reward = float(np.asarray(info["episode"]["r"]).reshape(-1)[0])
        true_objective = float(info.get("true_objective", reward)) if isinstance(info, dict) else reward
        self.result.episode_rewards.append(reward)
        self.result.episode_lengths.append(int(self.ep_len[agent]))
        self.result.true_objectives.append(true_objective)
        log.info(
            "Episode finished for agent %d at %d frames. Reward: %.3f, true_objective: %.3f",
            agent,
            self.result.num_frames,
            reward,
            true_objective,
        )
        self.ep_reward[agent], self.ep_len[agent] = 0.0, 0
        self.rnn_states[agent] = 0.0  # a new episode starts from an empty memory
        if self.video_frames < 0 and agent == 0:
            self.recording = False  # --video_frames=-1: one episode

    def _limits_reached(self) -> bool:
        cfg = self.cfg
        if len(self.result.episode_rewards) >= int(getattr(cfg, "max_num_episodes", 1e9)):
            return True
        if self.result.num_frames >= int(getattr(cfg, "max_num_frames", 1e9)):
            return True
        # a finished video ends the run unless the user asked for a number of episodes or frames
        explicit_limit = _explicit(cfg, "max_num_episodes") or _explicit(cfg, "max_num_frames")
        return self.render_mode == "rgb_array" and not self.recording and not explicit_limit

    def run(self, action_repeat: int) -> EnjoyResult:
        seed = getattr(self.cfg, "seed", None)
        obs, _infos = self.env.reset(seed=None if seed is None else int(seed))
        self._record()
        deterministic = bool(getattr(self.cfg, "eval_deterministic", False))
        space = self.env.action_space
        try:
            while not self._limits_reached():
                actions, self.rnn_states = compute_actions(self.model, obs, self.rnn_states, deterministic, self.device)
                env_actions = actions_to_env(space, actions)
                for _ in range(action_repeat):
                    obs, rew, terminated, truncated, infos = self.env.step(actions, env_actions)
                    self.result.num_frames += 1
                    self.ep_reward += rew
                    self.ep_len += 1
                    dones = np.logical_or(terminated, truncated)
                    for agent in np.flatnonzero(dones):
                        self._episode_done(int(agent), infos[agent] if agent < len(infos) else {})
                    self._record()
                    self._pace()
                    if dones.any():
                        break  # the repeated action belonged to the finished episode
        except KeyboardInterrupt:
            log.warning("Interrupted: reporting the episodes finished so far")
        return self.result


def _save_video(cfg: Config, frames: list[np.ndarray]) -> str | None:
    from sample_factory.utils.video import VideoError, save_video

    name = getattr(cfg, "video_name", None) or "replay.mp4"
    if not name.endswith(".mp4"):
        name += ".mp4"
    path = os.path.join(experiment_dir(cfg, mkdir=False), name)
    fps = int(getattr(cfg, "fps", 0) or 0) or 30
    try:
        return save_video(frames, path, fps)
    except VideoError as exc:
        log.error("%s", exc)
        return None


def _report(result: EnjoyResult) -> None:
    if not result.episode_rewards:
        log.warning("No episode finished within the limits (%d frames)", result.num_frames)
        return
    log.info(
        "Avg episode reward: %.3f, std %.3f, over %d episodes (avg length %.1f, avg true_objective %.3f)",
        result.mean_reward,
        result.std_reward,
        len(result.episode_rewards),
        float(np.mean(result.episode_lengths)),
        float(np.mean(result.true_objectives)),
    )


def _make_env(cfg: Config, render_mode: str | None) -> SlotEnv:
    try:
        return make_env_func_batched(cfg, AttrDict(worker_index=0, vector_index=0, env_id=0), render_mode)
    except ValueError as exc:  # unknown env name: the message lists the registered ones
        raise EvalError(" ".join(str(exc).split())) from exc


def enjoy(cfg: Config) -> tuple[StatusCode, float]:
    """Evaluate the policy `--policy_index` of the experiment; returns (status, average episode reward)."""
    try:
        cfg = load_eval_cfg(cfg)
        action_repeat = _action_repeat(cfg)
        _check_hub_args(cfg)
        policy_checkpoint_path(cfg)  # fail on a bad policy index / missing checkpoint before creating the env
        render_mode = eval_render_mode(cfg)
        env_cfg = AttrDict(dict(cfg))
        if getattr(cfg, "eval_env_frameskip", None):
            env_cfg.env_frameskip = int(cfg.eval_env_frameskip)
        env = _make_env(env_cfg, render_mode)
    except EvalError as exc:
        log.error("%s", exc)
        return ExperimentStatus.FAILURE, math.nan

    try:
        env_info = extract_env_info(env.env, env_cfg)
        device = policy_device(cfg)
        model, _path = load_policy(cfg, env_info, device)
        runner = _Enjoy(cfg, env, model, device, render_mode)
        result = runner.run(action_repeat)
    except EvalError as exc:
        log.error("%s", exc)
        return ExperimentStatus.FAILURE, math.nan
    finally:
        env.close()

    _report(result)
    status: StatusCode = ExperimentStatus.SUCCESS
    if render_mode == "rgb_array" and _save_video(cfg, runner.frames) is None:
        status = ExperimentStatus.FAILURE
    if getattr(cfg, "push_to_hub", False):
        status = max(status, _push(cfg, result))
    return status, result.mean_reward


def _check_hub_args(cfg: Config) -> None:
    if not getattr(cfg, "push_to_hub", False):
        return
    repo = getattr(cfg, "hf_repository", None) or ""
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise EvalError(f"--push_to_hub needs --hf_repository=<user>/<repo>, got {repo or 'none'}")


def _push(cfg: Config, result: EnjoyResult) -> StatusCode:
    from sample_factory.huggingface.huggingface_utils import HubError, push_to_hf

    try:
        push_to_hf(experiment_dir(cfg, mkdir=False), cfg.hf_repository, cfg=cfg, result=result)
    except HubError as exc:
        log.error("%s", exc)
        return ExperimentStatus.FAILURE
    return ExperimentStatus.SUCCESS
