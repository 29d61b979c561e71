"""Template for a custom env, custom parameters, overridden defaults and a custom encoder (docs/custom_envs.md).

    python -m sf_examples.train_custom_env_custom_model --env=my_custom_env_v1 --experiment=my_exp --device=cpu

The toy env `my_custom_env_v1` shows 1x10x10 random images; reward = action * 0.01, so always choosing the last
action is optimal (90.0 per 1000-step episode with the default 10 actions).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from sample_factory.algo.utils.context import global_model_factory
from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
from sample_factory.envs.env_utils import RewardShapingInterface, TrainingInfoInterface, register_env
from sample_factory.model.encoder import Encoder
from sample_factory.model.model_utils import nonlinearity
from sample_factory.train import run_rl
from sample_factory.utils.typing import Config, ObsSpace
from sample_factory.utils.utils import str2bool

ENV_NAME = "my_custom_env_v1"
DEFAULT_REWARD_SHAPING: dict[str, float] = {"action_reward_scale": 0.01}


class CustomEnv(gym.Env, TrainingInfoInterface, RewardShapingInterface):
    """Random 1x10x10 observations, `Discrete(num_actions)`, reward `action * action_reward_scale` (0.01)."""

    metadata = {"render_modes": ["human", "rgb_array"]}

    def __init__(self, full_env_name: str, cfg: Config, render_mode: str | None = None) -> None:
        TrainingInfoInterface.__init__(self)
        self.name = full_env_name
        self.cfg = cfg
        self.render_mode = render_mode
        self.num_actions = int(cfg.custom_env_num_actions)
        self.episode_len = int(cfg.custom_env_episode_len)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1, 10, 10), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(self.num_actions)
        self.reward_shaping: dict[str, float] = dict(DEFAULT_REWARD_SHAPING)
        self.curr_episode_steps = 0
        self.episode_reward = 0.0
        self.last_obs: np.ndarray | None = None

    def _obs(self) -> np.ndarray:
        self.last_obs = self.np_random.random((1, 10, 10), dtype=np.float32)
        return self.last_obs

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.curr_episode_steps = 0
        self.episode_reward = 0.0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = int(np.asarray(action).reshape(-1)[0]) if np.ndim(action) else int(action)
        if not 0 <= action < self.num_actions:
            raise ValueError(f"{self.name}: action {action} outside Discrete({self.num_actions})")
        reward = action * self.reward_shaping["action_reward_scale"]
        self.curr_episode_steps += 1
        self.episode_reward += reward
        truncated = self.curr_episode_steps >= self.episode_len
        info: dict[str, Any] = {}
        if truncated:
            # custom metrics: TensorBoard shows them as policy_stats/avg_<key>
            info["episode_extra_stats"] = {"last_action_fraction": float(action == self.num_actions - 1)}
        return self._obs(), reward, False, truncated, info

    # RewardShapingInterface: the runner (or PBT) may change the scale while training
    def get_default_reward_shaping(self) -> dict[str, float]:
        return dict(DEFAULT_REWARD_SHAPING)

    def set_reward_shaping(self, reward_shaping: dict[str, Any], agent_idx: int | slice) -> None:
        self.reward_shaping = dict(reward_shaping)

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array" and self.last_obs is not None:
            img = (self.last_obs[0] * 255).astype(np.uint8)
            return np.repeat(img[:, :, None], 3, axis=2)
        return None


def make_custom_env_func(
    full_env_name: str, cfg: Config | None = None, env_config: Any = None, render_mode: str | None = None
) -> CustomEnv:
    """Env factory, called as `make_env_func(full_env_name, cfg, env_config, render_mode)`."""
    return CustomEnv(full_env_name, cfg, render_mode=render_mode)


def add_extra_params_func(parser: argparse.ArgumentParser) -> None:
    """Env-specific command-line parameters; they appear in `--help` and in config.json."""
    p = parser
    p.add_argument("--custom_env_num_actions", default=10, type=int, help="Number of actions in my_custom_env_v1")
    p.add_argument("--custom_env_episode_len", default=1000, type=int, help="Number of steps in an episode")
    p.add_argument(
        "--custom_env_unused_flag", default=False, type=str2bool, help="Example of a boolean env parameter (unused)"
    )


def override_default_params_func(env: str, parser: argparse.ArgumentParser) -> None:
    """Defaults that suit this env better than the framework's; values given on the command line still win."""
    parser.set_defaults(
        rnn_size=128,  # a small GRU is plenty for this toy env (the framework default is 512)
        encoder_conv_mlp_layers=[128],  # CustomEncoder reads its output size from here
        num_envs_per_worker=4,
        batch_size=512,
    )


class CustomEncoder(Encoder):
    """Small conv net (two conv layers) followed by a linear layer: `[B, 1, 10, 10] -> [B, 128]`."""

    def __init__(self, cfg: Config, obs_space: ObsSpace) -> None:
        super().__init__(cfg)
        assert isinstance(obs_space, gym.spaces.Dict), "encoders receive a Dict space ({'obs': ...} for a Box env)"
        obs_shape = obs_space["obs"].shape
        assert obs_shape is not None and len(obs_shape) == 3, f"expected a [C, H, W] image, got {obs_shape}"
        act = nonlinearity(cfg)
        self.conv_head = nn.Sequential(
            nn.Conv2d(obs_shape[0], 8, kernel_size=3, stride=1),
            act,
            nn.Conv2d(8, 16, kernel_size=3, stride=2),
            act,
        )
        with torch.no_grad():
            conv_out = int(self.conv_head(torch.zeros(1, *obs_shape)).numel())
        out_size = int(cfg.encoder_conv_mlp_layers[-1]) if cfg.encoder_conv_mlp_layers else 128
        self.mlp_layers = nn.Sequential(nn.Linear(conv_out, out_size), act)
        self.encoder_out_size = out_size

    def forward(self, obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.conv_head(obs_dict["obs"].float())
        return self.mlp_layers(x.flatten(start_dim=1))

    def get_out_size(self) -> int:
        return self.encoder_out_size


def make_custom_encoder(cfg: Config, obs_space: ObsSpace) -> Encoder:
    """Encoder factory: `f(cfg, obs_space) -> Encoder` (obs_space is the Dict of observation keys)."""
    return CustomEncoder(cfg, obs_space)


def register_custom_components() -> None:
    register_env(ENV_NAME, make_custom_env_func)
    global_model_factory().register_encoder_factory(make_custom_encoder)


def parse_custom_args(argv: list[str] | None = None, evaluation: bool = False) -> Config:
    parser, partial_cfg = parse_sf_args(argv=argv, evaluation=evaluation)
    add_extra_params_func(parser)
    override_default_params_func(partial_cfg.env, parser)
    return parse_full_cfg(parser, argv)


def main(argv: list[str] | None = None) -> int:
    register_custom_components()
    cfg = parse_custom_args(argv)
    return int(run_rl(cfg))


if __name__ == "__main__":
    sys.exit(main())
