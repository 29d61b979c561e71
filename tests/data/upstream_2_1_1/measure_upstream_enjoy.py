"""How the expected rewards in tests/test_enjoy.py were measured with upstream sample-factory==2.1.1 (not run by tests).

Run with the side venv (torch 2.13, numpy 1.26, gymnasium 0.29), from a directory outside any git repository:
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 /tmp/upvenv/bin/python measure_upstream_enjoy.py <train_dir> <experiment> <seed>
Upstream's enjoy calls env.reset() without a seed, so the env factory below seeds the first reset; our enjoy does
the same with --seed. Deterministic (argmax) actions, 20 episodes.
"""

import sys

import gymnasium as gym

from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
from sample_factory.enjoy import enjoy
from sample_factory.envs.env_utils import register_env


class SeedFirstReset(gym.Wrapper):
    def __init__(self, env, seed):
        super().__init__(env)
        self._seed = seed

    def reset(self, **kwargs):
        if self._seed is not None:
            kwargs["seed"], self._seed = self._seed, None
        return self.env.reset(**kwargs)


def main():
    train_dir, experiment, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    register_env("CartPole-v1", lambda name, cfg, env_config, render_mode=None: SeedFirstReset(gym.make(name), seed))
    argv = [
        "--env=CartPole-v1",
        f"--train_dir={train_dir}",
        f"--experiment={experiment}",
        "--device=cpu",
        "--no_render",
        "--eval_deterministic=True",
        "--max_num_episodes=20",
    ]
    parser, _ = parse_sf_args(argv, evaluation=True)
    cfg = parse_full_cfg(parser, argv)
    status, avg_reward = enjoy(cfg)
    print(f"UPSTREAM_AVG_REWARD {avg_reward!r}")


if __name__ == "__main__":
    main()
