"""Every documented command-line parameter: name, type, choices, default and a guide-style help string.

Grouped as in the Sample Factory 2 documentation; `sample_factory.cfg.arguments` assembles the groups into a parser.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
from typing import Any

from sample_factory.utils.utils import str2bool

ParserLike = argparse.ArgumentParser | argparse._ArgumentGroup


def _group(p: ParserLike, title: str, description: str) -> ParserLike:
    """A titled help section when given a parser; the object itself when given a group (no nesting)."""
    if isinstance(p, argparse.ArgumentParser):
        return p.add_argument_group(title, description)
    return p


def add_basic_cli_args(p: ParserLike) -> None:
    g = _group(p, "basic", "What to train and where to keep it.")
    g.add_argument(
        "-h", "--help", action="store_true", help="Print this help (with the environment's own parameters) and exit."
    )
    g.add_argument("--algo", type=str, default="APPO", help="Algorithm. Only APPO (asynchronous PPO) exists.")
    g.add_argument(
        "--env",
        type=str,
        default=None,
        required=True,
        help="Name of a registered environment (see register_env), or any gymnasium id. Required.",
    )
    g.add_argument(
        "--experiment",
        type=str,
        default="default_experiment",
        help="Name of the experiment folder under --train_dir. If the folder exists, the run is RESUMED "
        "(see --restart_behavior).",
    )
    g.add_argument(
        "--train_dir",
        type=str,
        default=os.path.join(os.getcwd(), "train_dir"),
        help="Root folder for all experiments: checkpoints, config.json, sf_log.txt and TensorBoard summaries "
        "go to <train_dir>/<experiment>.",
    )
    g.add_argument(
        "--restart_behavior",
        type=str,
        default="resume",
        choices=["resume", "restart", "overwrite"],
        help="What to do when the experiment folder exists. resume: continue training; command-line values win, "
        "the rest come from the saved config.json. restart: move the old folder to <experiment>_old0001 "
        "(next free number) and start fresh. overwrite: delete the old folder and start fresh.",
    )
    g.add_argument(
        "--device",
        type=str,
        default="gpu",
        choices=["gpu", "cpu"],
        help="Device for the learner and the inference workers. Without CUDA, gpu falls back to cpu with a warning.",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=None,
        help="Seed for torch and numpy in the learner (weight init, minibatch shuffling). Env seeds come from env "
        "indices, so runs are not bit-for-bit reproducible. None: random.",
    )


def add_rl_args(p: ParserLike) -> None:
    _add_sampling_args(p)
    _add_loss_args(p)
    _add_optimizer_args(p)
    _add_obs_args(p)
    _add_performance_args(p)
    _add_logging_args(p)
    _add_termination_args(p)


def _add_sampling_args(p: ParserLike) -> None:
    g = _group(
        p,
        "system and sampling",
        "How experience is collected. Samples collected per iteration = num_workers * num_envs_per_worker * rollout "
        "(* agents per env); samples trained per iteration (the dataset) = batch_size * num_batches_per_epoch.",
    )
    g.add_argument(
        "--num_policies",
        type=int,
        default=1,
        help="Number of policies trained jointly (self-play, PBT). Each gets its own learner and TensorBoard folder.",
    )
    g.add_argument(
        "--async_rl",
        type=str2bool,
        default=True,
        help="Keep collecting experience while the learner trains. Faster, but adds policy lag. False: sampling "
        "pauses during training (sync mode; the dataset must then be a multiple of the samples collected per "
        "iteration / num_policies).",
    )
    g.add_argument(
        "--serial_mode",
        type=str2bool,
        default=False,
        help="Run every component in one process. Simplest to debug; good for fast vectorized or GPU envs.",
    )
    g.add_argument(
        "--batched_sampling",
        type=str2bool,
        default=False,
        help="Batched rollout workers for vectorized envs (EnvPool, IsaacGym, Brax): one policy per split, no "
        "inactive agents, usually with num_workers=1.",
    )
    g.add_argument(
        "--num_batches_to_accumulate",
        type=int,
        default=2,
        help="Sampling pauses once this many training datasets wait for the learner (memory and lag cap). Forced "
        "to 1 in sync mode.",
    )
    g.add_argument(
        "--worker_num_splits",
        type=int,
        default=2,
        help="Env groups per rollout worker. 2 = double-buffered sampling: one half steps while the other waits "
        "for actions. 1 = off. num_envs_per_worker must be divisible by this.",
    )
    g.add_argument(
        "--policy_workers_per_policy",
        type=int,
        default=1,
        help="Inference workers per policy. Raise it when inference (not the envs) limits throughput.",
    )
    g.add_argument(
        "--max_policy_lag",
        type=int,
        default=1000,
        help="Experience generated by a policy more than this many versions (SGD steps) behind the learner is "
        "discarded.",
    )
    g.add_argument(
        "--num_workers",
        type=int,
        default=multiprocessing.cpu_count(),
        help="Rollout worker processes. Default: the number of logical CPU cores, a good start.",
    )
    g.add_argument(
        "--num_envs_per_worker",
        type=int,
        default=2,
        help="Envs per rollout worker; must be divisible by worker_num_splits. Larger values raise throughput "
        "(bigger inference batches) but also memory use and policy lag.",
    )
    g.add_argument(
        "--batch_size",
        type=int,
        default=1024,
        help="SGD minibatch size in transitions (agent steps). Must be divisible by recurrence.",
    )
    g.add_argument(
        "--num_batches_per_epoch",
        type=int,
        default=1,
        help="Minibatches per training iteration; the dataset is batch_size * num_batches_per_epoch transitions "
        "and must hold whole rollouts.",
    )
    g.add_argument(
        "--num_epochs",
        type=int,
        default=1,
        help="Passes (PPO epochs) over each dataset. Each pass adds num_batches_per_epoch policy versions of lag.",
    )
    g.add_argument(
        "--rollout",
        type=int,
        default=32,
        help="Length of the trajectory pieces sent to the learner; also the horizon of GAE / V-trace bootstrapping.",
    )
    g.add_argument(
        "--recurrence",
        type=int,
        default=-1,
        help="Backpropagation-through-time length. -1: rollout when use_rnn, else 1. Must divide rollout and "
        "batch_size. V-trace requires recurrence == rollout.",
    )
    g.add_argument(
        "--shuffle_minibatches",
        type=str2bool,
        default=False,
        help="Shuffle the dataset (in recurrence-length chunks) before cutting minibatches.",
    )


def _add_loss_args(p: ParserLike) -> None:
    g = _group(p, "RL and loss", "Discounting, reward handling and the terms of the PPO loss.")
    g.add_argument("--gamma", type=float, default=0.99, help="Discount factor, in [0, 1].")
    g.add_argument(
        "--reward_scale",
        type=float,
        default=1.0,
        help="Rewards are multiplied by this before RL (episode statistics keep the raw reward). Use it to bring "
        "returns to a range of roughly [-10, 10].",
    )
    g.add_argument(
        "--reward_clip",
        type=float,
        default=1000.0,
        help="Scaled rewards are clipped to [-reward_clip, reward_clip].",
    )
    g.add_argument(
        "--value_bootstrap",
        type=str2bool,
        default=False,
        help="On time-limit truncations, add gamma * V(last obs) to the reward, so timeouts are not treated as "
        "terminal. Recommended for envs with time limits (MuJoCo).",
    )
    g.add_argument(
        "--normalize_returns",
        type=str2bool,
        default=True,
        help="Normalize return targets with running mean/std (the critic learns in normalized space). "
        "Incompatible with with_vtrace.",
    )
    g.add_argument(
        "--exploration_loss_coeff",
        type=float,
        default=0.003,
        help="Weight of the exploration term (see exploration_loss). 0 disables it.",
    )
    g.add_argument("--value_loss_coeff", type=float, default=0.5, help="Weight of the critic (value) loss.")
    g.add_argument(
        "--kl_loss_coeff",
        type=float,
        default=0.0,
        help="Fixed penalty on KL(current || behaviour policy). About 0.1 helps with continuous actions.",
    )
    g.add_argument(
        "--exploration_loss",
        type=str,
        default="entropy",
        choices=["entropy", "symmetric_kl"],
        help="entropy: maximize policy entropy. symmetric_kl: penalize the symmetric KL to the uniform "
        "distribution (discrete actions only).",
    )
    g.add_argument("--gae_lambda", type=float, default=0.95, help="GAE lambda, in [0, 1] (ignored when with_vtrace).")
    g.add_argument(
        "--ppo_clip_ratio",
        type=float,
        default=0.1,
        help="PPO clipping: the probability ratio is clipped to [1/(1+ratio), 1+ratio]. Must be > 0.",
    )
    g.add_argument(
        "--ppo_clip_value",
        type=float,
        default=1.0,
        help="Value clipping: max change of V vs the behaviour value per update (in return units; normalized "
        "units with normalize_returns).",
    )
    g.add_argument(
        "--with_vtrace",
        type=str2bool,
        default=False,
        help="V-trace targets and advantages (off-policy correction) instead of GAE. Needs recurrence == rollout "
        "and normalize_returns=False.",
    )
    g.add_argument("--vtrace_rho", type=float, default=1.0, help="V-trace rho-bar: truncation of importance weights.")
    g.add_argument("--vtrace_c", type=float, default=1.0, help="V-trace c-bar: truncation of trace coefficients.")


def _add_optimizer_args(p: ParserLike) -> None:
    g = _group(p, "optimizer", "Optimizer and learning-rate schedule.")
    g.add_argument("--optimizer", type=str, default="adam", choices=["adam", "lamb"], help="adam or lamb.")
    g.add_argument("--adam_eps", type=float, default=1e-6, help="Adam/Lamb epsilon (CleanRL-style Atari uses 1e-5).")
    g.add_argument("--adam_beta1", type=float, default=0.9, help="Adam/Lamb beta1, in [0, 1).")
    g.add_argument("--adam_beta2", type=float, default=0.999, help="Adam/Lamb beta2, in [0, 1).")
    g.add_argument(
        "--max_grad_norm", type=float, default=4.0, help="Clip the gradient norm to this value. 0 disables clipping."
    )
    g.add_argument("--learning_rate", type=float, default=1e-4, help="Initial learning rate.")
    g.add_argument(
        "--lr_schedule",
        type=str,
        default="constant",
        choices=["constant", "kl_adaptive_minibatch", "kl_adaptive_epoch", "linear_decay"],
        help="constant; kl_adaptive_minibatch / kl_adaptive_epoch: divide the LR by 1.5 when KL > 2*threshold, "
        "multiply by 1.5 when KL < threshold/2 (after each minibatch / epoch); linear_decay: to 0 over "
        "train_for_env_steps.",
    )
    g.add_argument(
        "--lr_schedule_kl_threshold", type=float, default=0.008, help="Target KL for the kl_adaptive schedules."
    )
    g.add_argument("--lr_adaptive_min", type=float, default=1e-6, help="Lower bound of the adaptive learning rate.")
    g.add_argument("--lr_adaptive_max", type=float, default=1e-2, help="Upper bound of the adaptive learning rate.")


def _add_obs_args(p: ParserLike) -> None:
    g = _group(p, "observation preprocessing", "Applied inside the model, so enjoy and export see the same inputs.")
    g.add_argument(
        "--obs_subtract_mean", type=float, default=0.0, help="Subtracted from the 'obs' key only (e.g. 128 for pixels)."
    )
    g.add_argument(
        "--obs_scale", type=float, default=1.0, help="The 'obs' key is divided by this (e.g. 255 for pixels)."
    )
    g.add_argument(
        "--normalize_input",
        type=str2bool,
        default=True,
        help="Normalize observations with running mean/std (clipped to +-5).",
    )
    g.add_argument(
        "--normalize_input_keys",
        type=str,
        nargs="*",
        default=None,
        help="Observation dict keys to normalize, e.g. --normalize_input_keys obs. None: all keys.",
    )


def _add_performance_args(p: ParserLike) -> None:
    g = _group(p, "decorrelation and process control", "Start-up decorrelation, devices, CPU affinity, priorities.")
    g.add_argument(
        "--decorrelate_experience_max_seconds",
        type=int,
        default=0,
        help="Worker i sleeps i/num_workers * this many seconds once at start, so workers do not run in lockstep.",
    )
    g.add_argument(
        "--decorrelate_envs_on_one_worker",
        type=str2bool,
        default=True,
        help="At the first reset, each env of a worker takes a different number of random steps, so episodes "
        "do not end together.",
    )
    g.add_argument(
        "--actor_worker_gpus",
        type=int,
        nargs="*",
        default=[],
        help="GPU indices for rollout workers (GPU envs or rendering), e.g. --actor_worker_gpus 0 1. Empty: CPU only.",
    )
    g.add_argument(
        "--set_workers_cpu_affinity",
        type=str2bool,
        default=True,
        help="Pin each rollout worker to a core (Linux). Helps throughput when num_workers is close to the cores.",
    )
    g.add_argument(
        "--force_envs_single_thread",
        type=str2bool,
        default=False,
        help="Limit OpenMP/MKL threads inside envs to 1 (stops many envs from oversubscribing the CPU).",
    )
    g.add_argument(
        "--default_niceness",
        type=int,
        default=0,
        help="Niceness of the learner; inference workers get +2 and rollout workers +10 (capped at 20).",
    )


def _add_logging_args(p: ParserLike) -> None:
    g = _group(p, "logging and summaries", "Console, sf_log.txt and TensorBoard.")
    g.add_argument(
        "--log_to_file", type=str2bool, default=True, help="Also write the console log to <experiment>/sf_log.txt."
    )
    g.add_argument(
        "--experiment_summaries_interval",
        type=int,
        default=10,
        help="Seconds between averaged TensorBoard summaries (reward, fps, ...).",
    )
    g.add_argument(
        "--flush_summaries_interval", type=int, default=30, help="Seconds between flushes of TensorBoard files."
    )
    g.add_argument(
        "--stats_avg",
        type=int,
        default=100,
        help="Episodes averaged for reward/length statistics (written once this many have finished).",
    )
    g.add_argument(
        "--summaries_use_frameskip",
        type=str2bool,
        default=True,
        help="Count env steps (x-axis, FPS, episode length) in frames, i.e. multiplied by env_frameskip.",
    )
    g.add_argument("--heartbeat_interval", type=int, default=20, help="Seconds between heartbeats of each component.")
    g.add_argument(
        "--heartbeat_reporting_interval",
        type=int,
        default=180,
        help="A component silent for this many seconds is reported as stalled and the run stops.",
    )


def _add_termination_args(p: ParserLike) -> None:
    g = _group(p, "termination and checkpoints", "When to stop, what to save and what to load.")
    g.add_argument(
        "--train_for_env_steps",
        type=int,
        default=int(1e10),
        help="Stop when every policy has collected this many env steps (frames with summaries_use_frameskip).",
    )
    g.add_argument("--train_for_seconds", type=int, default=int(1e10), help="Stop after this many seconds of training.")
    g.add_argument("--save_every_sec", type=int, default=120, help="Seconds between periodic checkpoints.")
    g.add_argument(
        "--keep_checkpoints", type=int, default=2, help="How many periodic checkpoint_* files to keep per policy."
    )
    g.add_argument(
        "--load_checkpoint_kind",
        type=str,
        default="latest",
        choices=["latest", "best"],
        help="Checkpoint to load on resume / evaluation: the latest periodic one or the best one.",
    )
    g.add_argument(
        "--save_milestones_sec",
        type=int,
        default=-1,
        help="If > 0: also save a never-deleted checkpoint in milestones/ every this many seconds.",
    )
    g.add_argument("--save_best_every_sec", type=int, default=5, help="Seconds between checks for a new best policy.")
    g.add_argument(
        "--save_best_metric",
        type=str,
        default="reward",
        help="Averaged per-policy statistic that decides the best policy (reward, or a custom episode stat).",
    )
    g.add_argument(
        "--save_best_after",
        type=int,
        default=100000,
        help="Env steps before best-policy checkpoints start (early averages are noisy).",
    )
    g.add_argument(
        "--benchmark",
        type=str2bool,
        default=False,
        help="Benchmark mode: skip the decorrelation sleep and other niceties that cost throughput.",
    )


def add_model_args(p: ParserLike) -> None:
    g = _group(p, "model", "Encoder -> core (RNN or identity) -> decoder -> actor and critic heads.")
    g.add_argument(
        "--encoder_mlp_layers",
        type=int,
        nargs="*",
        default=[512, 512],
        help="Hidden layer sizes of the MLP encoder for 1-D observations, e.g. --encoder_mlp_layers 256 128.",
    )
    g.add_argument(
        "--encoder_conv_architecture",
        type=str,
        default="convnet_simple",
        choices=["convnet_simple", "convnet_impala", "convnet_atari", "resnet_impala"],
        help="Convolutional encoder for image (2-D and more) observations.",
    )
    g.add_argument(
        "--encoder_conv_mlp_layers",
        type=int,
        nargs="*",
        default=[512],
        help="Fully connected layers after the convolutional head.",
    )
    g.add_argument(
        "--use_rnn", type=str2bool, default=True, help="Recurrent core (memory). False: a feed-forward policy."
    )
    g.add_argument("--rnn_size", type=int, default=512, help="Hidden size of the recurrent core.")
    g.add_argument("--rnn_type", type=str, default="gru", choices=["gru", "lstm"], help="Recurrent cell type.")
    g.add_argument("--rnn_num_layers", type=int, default=1, help="Stacked recurrent layers.")
    g.add_argument(
        "--decoder_mlp_layers",
        type=int,
        nargs="*",
        default=[],
        help="MLP layers after the core. Empty: identity.",
    )
    g.add_argument(
        "--nonlinearity", type=str, default="elu", choices=["elu", "relu", "tanh"], help="Activation function."
    )
    g.add_argument(
        "--policy_initialization",
        type=str,
        default="orthogonal",
        choices=["orthogonal", "xavier_uniform", "torch_default"],
        help="Initialization of Linear/Conv2d weights (biases start at 0). RNN cells keep torch's init.",
    )
    g.add_argument("--policy_init_gain", type=float, default=1.0, help="Gain of the weight initialization.")
    g.add_argument(
        "--actor_critic_share_weights",
        type=str2bool,
        default=True,
        help="Actor and critic share encoder and core. False: two separate networks (twice the compute).",
    )
    g.add_argument(
        "--adaptive_stddev",
        type=str2bool,
        default=True,
        help="Continuous actions: the network outputs the std (state-dependent). False: one learned log-std vector.",
    )
    g.add_argument(
        "--continuous_tanh_scale",
        type=float,
        default=0.0,
        help="If > 0: action means become tanh(mu/scale)*scale. Only with adaptive_stddev=False.",
    )
    g.add_argument(
        "--initial_stddev",
        type=float,
        default=1.0,
        help="Initial std of continuous actions when adaptive_stddev=False.",
    )


def add_default_env_args(p: ParserLike) -> None:
    g = _group(p, "environment", "Generic environment settings; env scripts add their own below.")
    g.add_argument(
        "--use_env_info_cache",
        type=str2bool,
        default=False,
        help="Cache the env's spaces in /tmp/sf2_<user>/env_info_<env> so later runs skip creating a probe env.",
    )
    g.add_argument(
        "--env_gpu_actions",
        type=str2bool,
        default=False,
        help="The env takes actions as GPU torch tensors (IsaacGym, Brax).",
    )
    g.add_argument(
        "--env_gpu_observations",
        type=str2bool,
        default=True,
        help="With non-empty actor_worker_gpus, the env returns observations as GPU tensors.",
    )
    g.add_argument(
        "--env_frameskip",
        type=int,
        default=1,
        help="Frames per env step, for reporting (env steps are counted in frames). No wrapper is added here.",
    )
    g.add_argument("--env_framestack", type=int, default=1, help="Frames stacked per observation (Atari uses 4).")
    g.add_argument("--pixel_format", type=str, default="CHW", help="Image layout of observations (informational).")
    g.add_argument(
        "--use_record_episode_statistics",
        type=str2bool,
        default=False,
        help="Report episode scores from info['episode']['r'] (RecordEpisodeStatistics), e.g. Atari with lives.",
    )
    g.add_argument(
        "--episode_counter",
        type=str2bool,
        default=False,
        help="Wrap envs so episode_extra_stats carries episode_number.",
    )


def add_eval_args(p: ParserLike) -> None:
    g = _group(p, "evaluation", "Enjoy / evaluation scripts only.")
    g.add_argument("--fps", type=int, default=0, help="Render FPS; 0 = as fast as possible (videos then use 30).")
    g.add_argument(
        "--eval_env_frameskip",
        type=int,
        default=None,
        help="Frameskip during evaluation; each action is repeated env_frameskip / eval_env_frameskip times. "
        "None: env_frameskip.",
    )
    g.add_argument("--no_render", action="store_true", help="Do not render the environment.")
    g.add_argument("--save_video", action="store_true", help="Record a video (replay.mp4) instead of rendering.")
    g.add_argument(
        "--video_frames", type=int, default=int(1e9), help="Frames to record; -1 records exactly one episode."
    )
    g.add_argument("--video_name", type=str, default=None, help="Video file name. None: replay.mp4.")
    g.add_argument("--max_num_frames", type=int, default=int(1e9), help="Stop evaluation after this many frames.")
    g.add_argument("--max_num_episodes", type=int, default=int(1e9), help="Stop evaluation after this many episodes.")
    g.add_argument(
        "--push_to_hub", action="store_true", help="Upload the experiment folder to the Hugging Face Hub afterwards."
    )
    g.add_argument("--hf_repository", type=str, default=None, help="Hugging Face repository, as <user>/<repo>.")
    g.add_argument("--policy_index", type=int, default=0, help="Which policy to evaluate (multi-policy runs).")
    g.add_argument(
        "--eval_deterministic",
        type=str2bool,
        default=False,
        help="Take the most likely action (argmax / the mean) instead of sampling.",
    )
    g.add_argument("--train_script", type=str, default=None, help="Training module named in the model card.")
    g.add_argument("--enjoy_script", type=str, default=None, help="Evaluation module named in the model card.")
    g.add_argument(
        "--sample_env_episodes",
        type=int,
        default=256,
        help="Episodes to collect in the fast multi-worker evaluation.",
    )
    g.add_argument(
        "--csv_folder_name", type=str, default=None, help="Subfolder for eval_p<policy>.csv. None: the experiment."
    )


def add_wandb_args(p: ParserLike) -> None:
    g = _group(p, "Weights and Biases", "Optional W&B logging (pip install sample-factory[wandb]).")
    g.add_argument("--with_wandb", type=str2bool, default=False, help="Log to W&B (TensorBoard summaries are synced).")
    g.add_argument("--wandb_user", type=str, default=None, help="W&B entity (user or team).")
    g.add_argument("--wandb_project", type=str, default="sample_factory", help="W&B project.")
    g.add_argument("--wandb_group", type=str, default=None, help="W&B group. None: the env name.")
    g.add_argument("--wandb_job_type", type=str, default="SF", help="W&B job type.")
    g.add_argument("--wandb_tags", type=str, nargs="*", default=[], help="W&B tags, e.g. --wandb_tags ppo cartpole.")
    g.add_argument(
        "--wandb_dir", type=str, default=os.path.join(os.getcwd(), "wandb"), help="Folder for W&B's local files."
    )


def add_pbt_args(p: ParserLike) -> None:
    g = _group(p, "population-based training", "PBT over num_policies policies (single machine).")
    g.add_argument("--with_pbt", type=str2bool, default=False, help="Enable PBT (needs num_policies > 1).")
    g.add_argument(
        "--pbt_mix_policies_in_one_env",
        type=str2bool,
        default=True,
        help="In multi-agent envs, agents of one env may be controlled by different policies (all multi-policy runs).",
    )
    g.add_argument(
        "--pbt_period_env_steps", type=int, default=int(5e6), help="Env steps between PBT rounds (per policy)."
    )
    g.add_argument("--pbt_start_mutation", type=int, default=int(2e7), help="Env steps before the first PBT round.")
    g.add_argument(
        "--pbt_replace_fraction",
        type=float,
        default=0.3,
        help="Fraction of the population (rounded up) replaced by copies of the best policies each round.",
    )
    g.add_argument(
        "--pbt_mutation_rate", type=float, default=0.15, help="Probability that each hyperparameter is mutated."
    )
    g.add_argument(
        "--pbt_replace_reward_gap",
        type=float,
        default=0.1,
        help="Relative objective gap needed before a policy is replaced.",
    )
    g.add_argument(
        "--pbt_replace_reward_gap_absolute",
        type=float,
        default=1e-6,
        help="Absolute objective gap needed before a policy is replaced.",
    )
    g.add_argument("--pbt_optimize_gamma", type=str2bool, default=False, help="Also mutate gamma.")
    g.add_argument(
        "--pbt_target_objective",
        type=str,
        default="true_objective",
        help="Episode statistic PBT ranks policies by (info['true_objective'], defaulting to the reward).",
    )
    g.add_argument(
        "--pbt_perturb_min",
        type=float,
        default=1.1,
        help="Mutated floats are multiplied or divided by U(pbt_perturb_min, pbt_perturb_max).",
    )
    g.add_argument("--pbt_perturb_max", type=float, default=1.5, help="Upper bound of the perturbation factor.")


def group_functions(evaluation: bool = False) -> list[Any]:
    """The group functions in documented order (evaluation adds add_eval_args last)."""
    funcs: list[Any] = [
        add_basic_cli_args,
        add_rl_args,
        add_model_args,
        add_default_env_args,
        add_wandb_args,
        add_pbt_args,
    ]
    if evaluation:
        funcs.append(add_eval_args)
    return funcs
