"""Parameters and tuned defaults of the EnvPool MuJoCo integration (tuned for wall time: one serial worker that
steps 64 simulators as a batch), with per-env adjustments."""

from __future__ import annotations

from argparse import ArgumentParser

from sf_examples.envpool.envpool_utils import add_env_agents_arg, add_envpool_common_args

ENVPOOL_MUJOCO_DEFAULTS: dict = dict(
    batched_sampling=True,
    num_workers=1,
    num_envs_per_worker=1,
    worker_num_splits=1,
    train_for_env_steps=10_000_000,
    encoder_mlp_layers=[256, 128, 64],
    nonlinearity="elu",
    kl_loss_coeff=0.1,
    use_rnn=False,
    adaptive_stddev=False,
    policy_initialization="torch_default",
    reward_scale=0.1,
    rollout=64,
    max_grad_norm=1.0,
    num_epochs=4,
    num_batches_per_epoch=2,
    batch_size=2048,
    ppo_clip_ratio=0.2,
    value_loss_coeff=2.0,
    exploration_loss_coeff=0.0,
    learning_rate=3e-4,
    lr_schedule="kl_adaptive_epoch",
    lr_schedule_kl_threshold=0.008,
    shuffle_minibatches=False,
    gamma=0.99,
    gae_lambda=0.95,
    with_vtrace=False,
    recurrence=1,
    normalize_input=True,
    normalize_returns=True,
    value_bootstrap=True,
    experiment_summaries_interval=3,
    save_every_sec=15,
    serial_mode=True,
    async_rl=False,
)

# Per-env adjustments on top of ENVPOOL_MUJOCO_DEFAULTS (ours; the tasks with long horizons get more steps).
ENV_CONFIGS: dict[str, dict] = {
    "mujoco_ant": dict(encoder_mlp_layers=[256, 128, 64], train_for_env_steps=10_000_000),
    "mujoco_halfcheetah": dict(encoder_mlp_layers=[256, 128, 64], train_for_env_steps=10_000_000),
    "mujoco_humanoid": dict(encoder_mlp_layers=[512, 256, 128], train_for_env_steps=20_000_000),
    "mujoco_hopper": dict(encoder_mlp_layers=[256, 128, 64], train_for_env_steps=5_000_000),
    "mujoco_walker": dict(encoder_mlp_layers=[256, 128, 64], train_for_env_steps=10_000_000),
}


def add_envpool_mujoco_args(env: str, parser: ArgumentParser, evaluation: bool = False) -> None:
    add_envpool_common_args(env, parser)
    add_env_agents_arg(parser, default=1 if evaluation else 64)


def envpool_mujoco_override_defaults(env: str, parser: ArgumentParser) -> None:
    """Set the EnvPool MuJoCo defaults (then the per-env dict) on `parser`; CLI values still win."""
    parser.set_defaults(**ENVPOOL_MUJOCO_DEFAULTS)
    parser.set_defaults(**ENV_CONFIGS.get(env, {}))
