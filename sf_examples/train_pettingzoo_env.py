"""Train on PettingZoo's tic-tac-toe (`tictactoe_v3`, both players share one policy) with a small conv encoder.

    pip install "pettingzoo[classic]>=1.24"
    python -m sf_examples.train_pettingzoo_env --env=tictactoe_v3 --experiment=ttt --device=cpu

The AEC env is converted with `turn_based_aec_to_parallel` and wrapped in `PettingZooParallelEnv`: the player who
waits for its turn is inactive, and the `action_mask` observation key stops the model from picking occupied cells.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import gymnasium as gym
import torch
from torch import nn

from sample_factory.algo.utils.context import global_model_factory
from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
from sample_factory.envs.env_utils import register_env
from sample_factory.envs.pettingzoo_envs import PettingZooParallelEnv
from sample_factory.model.encoder import Encoder
from sample_factory.model.model_utils import nonlinearity
from sample_factory.train import run_rl
from sample_factory.utils.typing import Config

ENV_NAME = "tictactoe_v3"


def make_pettingzoo_env(
    full_env_name: str, cfg: Config | None = None, env_config: Any = None, render_mode: str | None = None
) -> PettingZooParallelEnv:
    from pettingzoo.classic import tictactoe_v3
    from pettingzoo.utils.conversions import turn_based_aec_to_parallel

    return PettingZooParallelEnv(turn_based_aec_to_parallel(tictactoe_v3.env(render_mode=render_mode)))


class TicTacToeEncoder(Encoder):
    """Board planes [B, 3, 3, 2] (HWC, one plane per player) -> two 3x3 convolutions -> an MLP of `out_size`."""

    def __init__(self, cfg: Config, obs_space: gym.spaces.Dict, out_size: int = 128):
        super().__init__(cfg)
        h, w, c = obs_space["obs"].shape or (3, 3, 2)
        self.conv_head = nn.Sequential(
            nn.Conv2d(c, 32, kernel_size=3, padding=1),
            nonlinearity(cfg),
            nn.Conv2d(32, 64, kernel_size=3),
            nonlinearity(cfg),
        )
        with torch.no_grad():
            conv_out = self.conv_head(torch.zeros(1, c, h, w)).numel()
        self.mlp_head = nn.Sequential(nn.Linear(conv_out, out_size), nonlinearity(cfg))
        self.out_size = out_size

    def forward(self, obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        board = obs_dict["obs"].float().permute(0, 3, 1, 2)  # HWC -> CHW
        return self.mlp_head(self.conv_head(board).flatten(start_dim=1))

    def get_out_size(self) -> int:
        return self.out_size


def make_tictactoe_encoder(cfg: Config, obs_space: gym.spaces.Dict) -> Encoder:
    return TicTacToeEncoder(cfg, obs_space)


def override_default_params_func(env: str, parser: argparse.ArgumentParser) -> None:
    # games last at most 9 moves and the board is fully observed: no memory, small batches. Decorrelation plays
    # random (unmasked) moves, which tic-tac-toe punishes as illegal, so it is off.
    parser.set_defaults(
        decorrelate_envs_on_one_worker=False,
        use_rnn=False,
        num_workers=2,
        num_envs_per_worker=8,
        rollout=16,
        batch_size=256,
        normalize_input=False,
        gamma=0.99,
        learning_rate=3e-4,
    )


def register_pettingzoo_components() -> None:
    register_env(ENV_NAME, make_pettingzoo_env)
    global_model_factory().register_encoder_factory(make_tictactoe_encoder)


def parse_pettingzoo_args(argv: list[str] | None = None, evaluation: bool = False) -> Config:
    parser, partial_cfg = parse_sf_args(argv=argv, evaluation=evaluation)
    override_default_params_func(partial_cfg.env, parser)
    return parse_full_cfg(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 on success."""
    register_pettingzoo_components()
    cfg = parse_pettingzoo_args(argv)
    return int(run_rl(cfg))


if __name__ == "__main__":
    sys.exit(main())
