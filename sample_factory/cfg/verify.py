"""Configuration validation in one place: one-line errors that name the parameter, the arithmetic and the fix.

`config_errors` must pass before anything is written to the experiment folder; `verify_cfg` logs and returns a bool.
"""

from __future__ import annotations

import math
import multiprocessing
from typing import Any

from sample_factory.utils.typing import Config
from sample_factory.utils.utils import log


class ConfigError(ValueError):
    """An invalid configuration. `errors` holds the one-line messages; str() joins them with newlines."""

    def __init__(self, errors: list[str] | str) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


CHOICES: dict[str, tuple[str, ...]] = {
    "restart_behavior": ("resume", "restart", "overwrite"),
    "device": ("gpu", "cpu"),
    "exploration_loss": ("entropy", "symmetric_kl"),
    "optimizer": ("adam", "lamb"),
    "lr_schedule": ("constant", "kl_adaptive_minibatch", "kl_adaptive_epoch", "linear_decay"),
    "load_checkpoint_kind": ("latest", "best"),
    "encoder_conv_architecture": ("convnet_simple", "convnet_impala", "convnet_atari", "resnet_impala"),
    "rnn_type": ("gru", "lstm"),
    "nonlinearity": ("elu", "relu", "tanh"),
    "policy_initialization": ("orthogonal", "xavier_uniform", "torch_default"),
}

# (name, minimum allowed value, why) for integer sizes and counts
POSITIVE_INTS: tuple[tuple[str, int, str], ...] = (
    ("num_policies", 1, "at least one policy is trained"),
    ("num_workers", 1, "at least one rollout worker collects experience"),
    ("num_envs_per_worker", 1, "each worker needs an env"),
    ("worker_num_splits", 1, "1 disables double buffering"),
    ("policy_workers_per_policy", 1, "each policy needs an inference worker"),
    ("num_batches_to_accumulate", 1, "the learner needs at least one buffered dataset"),
    ("max_policy_lag", 1, "lag 0 would discard all experience"),
    ("batch_size", 1, "minibatch size in transitions"),
    ("num_batches_per_epoch", 1, "minibatches per training iteration"),
    ("num_epochs", 1, "passes over each dataset"),
    ("rollout", 1, "trajectory length"),
    ("rnn_size", 1, "hidden size"),
    ("rnn_num_layers", 1, "stacked layers"),
    ("stats_avg", 1, "episodes averaged"),
    ("keep_checkpoints", 1, "at least the latest checkpoint is kept"),
    ("env_frameskip", 1, "frames per env step"),
    ("env_framestack", 1, "frames per observation"),
    ("experiment_summaries_interval", 1, "seconds"),
    ("flush_summaries_interval", 1, "seconds"),
    ("heartbeat_interval", 1, "seconds"),
    ("heartbeat_reporting_interval", 1, "seconds"),
    ("save_every_sec", 1, "seconds"),
    ("save_best_every_sec", 1, "seconds"),
)

NON_NEGATIVE: tuple[str, ...] = (
    "exploration_loss_coeff",
    "value_loss_coeff",
    "kl_loss_coeff",
    "max_grad_norm",
    "continuous_tanh_scale",
    "decorrelate_experience_max_seconds",
    "train_for_env_steps",
    "train_for_seconds",
    "save_best_after",
    "obs_subtract_mean",
)

STRICTLY_POSITIVE: tuple[str, ...] = (
    "learning_rate",
    "adam_eps",
    "reward_scale",
    "reward_clip",
    "ppo_clip_ratio",
    "ppo_clip_value",
    "vtrace_rho",
    "vtrace_c",
    "lr_schedule_kl_threshold",
    "lr_adaptive_min",
    "lr_adaptive_max",
    "obs_scale",
    "policy_init_gain",
    "initial_stddev",
)


def effective_recurrence(cfg: Config) -> int:
    """`recurrence`, with -1 resolved: rollout when use_rnn, else 1."""
    if cfg.recurrence == -1:
        return cfg.rollout if cfg.use_rnn else 1
    return cfg.recurrence


def _get(cfg: Config, name: str, default: Any = None) -> Any:
    return getattr(cfg, name, default)


def _range_errors(cfg: Config) -> list[str]:
    errors = []
    for name, minimum, why in POSITIVE_INTS:
        v = _get(cfg, name)
        if v is not None and v < minimum:
            errors.append(f"--{name}={v} must be >= {minimum} ({why}): pass --{name}={max(minimum, 1)} or larger")
    for name in STRICTLY_POSITIVE:
        v = _get(cfg, name)
        if v is not None and not v > 0:
            errors.append(f"--{name}={v} must be > 0: pass a positive value")
    for name in NON_NEGATIVE:
        v = _get(cfg, name)
        if v is not None and v < 0:
            errors.append(f"--{name}={v} must be >= 0: pass 0 to disable it, or a positive value")
    for name in ("gamma", "gae_lambda"):
        v = _get(cfg, name)
        if v is not None and not 0.0 <= v <= 1.0:
            errors.append(f"--{name}={v} must be in [0, 1] (typical: 0.99 for gamma, 0.95 for gae_lambda)")
    for name in ("adam_beta1", "adam_beta2"):
        v = _get(cfg, name)
        if v is not None and not 0.0 <= v < 1.0:
            errors.append(f"--{name}={v} must be in [0, 1) (typical: 0.9 for beta1, 0.999 for beta2)")
    lo, hi = _get(cfg, "lr_adaptive_min"), _get(cfg, "lr_adaptive_max")
    if lo is not None and hi is not None and lo > hi:
        errors.append(f"--lr_adaptive_min={lo} must be <= --lr_adaptive_max={hi}: swap them")
    if _get(cfg, "recurrence") is not None and cfg.recurrence != -1 and cfg.recurrence < 1:
        errors.append(f"--recurrence={cfg.recurrence} must be -1 (automatic) or >= 1")
    niceness = _get(cfg, "default_niceness")
    if niceness is not None and not -20 <= niceness <= 20:
        errors.append(f"--default_niceness={niceness} must be in [-20, 20] (0 = normal priority)")
    for name in ("pbt_replace_fraction", "pbt_mutation_rate"):
        v = _get(cfg, name)
        if v is not None and not 0.0 <= v <= 1.0:
            errors.append(f"--{name}={v} must be a fraction in [0, 1]")
    pmin, pmax = _get(cfg, "pbt_perturb_min"), _get(cfg, "pbt_perturb_max")
    if pmin is not None and pmax is not None and not 0 < pmin <= pmax:
        errors.append(f"--pbt_perturb_min={pmin} must be > 0 and <= --pbt_perturb_max={pmax} (defaults: 1.1 and 1.5)")
    gpus = _get(cfg, "actor_worker_gpus") or []
    if any(g < 0 for g in gpus):
        errors.append(f"--actor_worker_gpus={list(gpus)}: GPU indices must be >= 0")
    return errors


def _choice_errors(cfg: Config) -> list[str]:
    errors = []
    for name, choices in CHOICES.items():
        v = _get(cfg, name)
        if v is not None and v not in choices:
            errors.append(f"--{name}={v} is not one of {', '.join(choices)}")
    return errors


def _sizes_errors(cfg: Config, num_agents: int) -> list[str]:
    """Divisibility of envs, rollouts, recurrence chunks and (sync mode) datasets."""
    errors = []
    nepw, splits = cfg.num_envs_per_worker, cfg.worker_num_splits
    if nepw % splits != 0:
        fix = "use an even number" if splits == 2 else f"use a multiple of {splits}"
        errors.append(
            f"--num_envs_per_worker={nepw} must be divisible by --worker_num_splits={splits}: {fix}, "
            f"or --worker_num_splits=1"
        )

    rollout, bs, nb = cfg.rollout, cfg.batch_size, cfg.num_batches_per_epoch
    dataset = bs * nb
    if dataset % rollout != 0:
        errors.append(
            f"--batch_size={bs} * --num_batches_per_epoch={nb} = {dataset} transitions per dataset must be divisible "
            f"by --rollout={rollout} (datasets hold whole trajectories): e.g. --batch_size={_round_up(bs, rollout)}"
        )

    rec = effective_recurrence(cfg)
    auto = f" (resolved from -1 because --use_rnn={cfg.use_rnn})" if cfg.recurrence == -1 else ""
    if rec >= 1:
        if rollout % rec != 0:
            errors.append(
                f"--recurrence={rec}{auto} must divide --rollout={rollout} (BPTT chunks are cut from trajectories): "
                f"pass --recurrence={rollout} or a divisor of it"
            )
        if bs % rec != 0:
            errors.append(
                f"--batch_size={bs} must be divisible by --recurrence={rec}{auto} (minibatches hold whole BPTT "
                f"chunks): e.g. --batch_size={_round_up(bs, rec)}"
            )
    if cfg.use_rnn and rec <= 1:
        errors.append(
            f"--use_rnn=True needs --recurrence > 1 to learn memory, got recurrence={rec}{auto}: "
            f"pass --recurrence={max(rollout, 2)} (and --rollout>1), or --use_rnn=False"
        )
    if cfg.with_vtrace and rec != rollout:
        errors.append(
            f"--with_vtrace=True needs --recurrence equal to --rollout={rollout} (V-trace corrects whole "
            f"trajectories), got recurrence={rec}{auto}: pass --recurrence={rollout}"
        )

    if not cfg.async_rl and nepw % splits == 0:
        errors += _sync_errors(cfg, num_agents)
    return errors


def _sync_errors(cfg: Config, num_agents: int) -> list[str]:
    errors = []
    num_envs = cfg.num_workers * cfg.num_envs_per_worker
    if cfg.num_policies > 1 and num_envs % cfg.num_policies != 0:
        errors.append(
            f"sync mode (--async_rl=False) maps env i to policy i % num_policies: --num_workers={cfg.num_workers} * "
            f"--num_envs_per_worker={cfg.num_envs_per_worker} = {num_envs} envs must be divisible by "
            f"--num_policies={cfg.num_policies}"
        )
    per_policy = num_envs * num_agents * cfg.rollout // cfg.num_policies
    dataset = cfg.batch_size * cfg.num_batches_per_epoch
    if per_policy > 0 and dataset % per_policy != 0:
        agents = f" * {num_agents} agents" if num_agents != 1 else ""
        pol = f" / --num_policies={cfg.num_policies}" if cfg.num_policies != 1 else ""
        step = per_policy // math.gcd(per_policy, cfg.num_batches_per_epoch)
        errors.append(
            f"sync mode (--async_rl=False): --batch_size={cfg.batch_size} * --num_batches_per_epoch="
            f"{cfg.num_batches_per_epoch} = {dataset} must be a positive multiple of the samples collected per "
            f"iteration --num_workers={cfg.num_workers} * --num_envs_per_worker={cfg.num_envs_per_worker}{agents} * "
            f"--rollout={cfg.rollout}{pol} = {per_policy}: e.g. --batch_size={_round_up(cfg.batch_size, step)}, "
            "or --async_rl=True"
        )
    return errors


def _round_up(x: int, multiple: int) -> int:
    return max(multiple, -(-x // multiple) * multiple)


def _env_errors(cfg: Config) -> list[str]:
    from sample_factory.envs.env_utils import env_registry_entry

    try:
        env_registry_entry(cfg.env)
    except ValueError as exc:
        return [str(exc)]
    return []


def config_errors(cfg: Config, env_info: Any = None, check_env: bool = False) -> list[str]:
    """All configuration errors (empty list = valid). `env_info.num_agents` refines the sync-mode check.

    `check_env=True` also requires `cfg.env` to be registered (or a gymnasium id).
    """
    errors = _choice_errors(cfg) + _range_errors(cfg)
    if errors:  # the arithmetic below assumes positive sizes
        return errors
    num_agents = int(getattr(env_info, "num_agents", 1) or 1) if env_info is not None else 1
    errors += _sizes_errors(cfg, num_agents)
    if cfg.normalize_returns and cfg.with_vtrace:
        errors.append(
            "--normalize_returns=True is incompatible with --with_vtrace=True (V-trace needs raw return scale): "
            "pass --normalize_returns=False, or --with_vtrace=False"
        )
    if cfg.with_pbt and cfg.num_policies < 2:
        errors.append(f"--with_pbt=True needs --num_policies >= 2 (got {cfg.num_policies}): e.g. --num_policies=4")
    policy_index = _get(cfg, "policy_index")
    if policy_index is not None and not 0 <= policy_index < cfg.num_policies:
        errors.append(f"--policy_index={policy_index} must be in [0, --num_policies={cfg.num_policies})")
    if check_env and _get(cfg, "env") is not None:
        errors += _env_errors(cfg)
    return errors


def expected_policy_lag(cfg: Config, num_agents: int = 1) -> float:
    """Estimated mean policy lag, in policy versions (= SGD steps), of the experience the learner trains on.

    Within one dataset, minibatch k of the E*B = num_epochs*num_batches_per_epoch is trained k versions after
    the data was collected: mean (E*B-1)/2. Sync mode has only that (0 for one epoch of one minibatch).
    Async mode, when sampler and learner keep pace, adds the versions published while a sample waits for its
    trajectory (one round of S = num_workers*num_envs_per_worker*agents*rollout/num_policies samples) and its
    dataset (D = batch_size*num_batches_per_epoch samples) to complete: on average max(S, D)/2 samples, at E/batch_size
    versions per sample. (For S >> D this is half of upstream's rule of thumb E*S/batch_size, which is the maximum.)
    A learner slower than the sampler adds up to num_batches_to_accumulate*E*B versions of queueing on top.
    """
    sgd_steps = cfg.num_epochs * cfg.num_batches_per_epoch
    lag = (sgd_steps - 1) / 2
    if cfg.async_rl:
        collected = cfg.num_workers * cfg.num_envs_per_worker * num_agents * cfg.rollout / cfg.num_policies
        dataset = cfg.batch_size * cfg.num_batches_per_epoch
        lag += cfg.num_epochs * max(collected, dataset) / (2 * cfg.batch_size)
    return lag


def config_warnings(cfg: Config) -> list[str]:
    """Combinations that are allowed but probably not what the user wants."""
    warnings = []
    if cfg.async_rl and cfg.serial_mode:
        warnings.append(
            "--async_rl=True with --serial_mode=True: one process alternates sampling and training, so there is "
            "little to gain from async and experience still gets policy lag; consider --async_rl=False"
        )
    if cfg.num_policies > 1 and cfg.batched_sampling:
        warnings.append(
            f"--num_policies={cfg.num_policies} with --batched_sampling=True: one policy per env split, "
            "policies are not mixed inside an env"
        )
    if cfg.num_policies > 1 and not cfg.async_rl:
        warnings.append(
            f"--num_policies={cfg.num_policies} in sync mode (--async_rl=False): env i always acts for policy "
            "i % num_policies (no mixing, --pbt_mix_policies_in_one_env is not used)"
        )
    if cfg.recurrence > 1 and not cfg.use_rnn:
        warnings.append(
            f"--recurrence={cfg.recurrence} with --use_rnn=False: BPTT chunks have no effect without an RNN"
        )
    if cfg.continuous_tanh_scale > 0 and cfg.adaptive_stddev:
        warnings.append("--continuous_tanh_scale>0 only works with --adaptive_stddev=False; it is ignored")
    cores = multiprocessing.cpu_count()
    if cfg.num_workers > 2 * cores:
        warnings.append(
            f"--num_workers={cfg.num_workers} is more than twice the {cores} logical cores: workers will compete "
            f"for CPUs; try --num_workers={cores} and more --num_envs_per_worker"
        )
    lag = expected_policy_lag(cfg) if not _range_errors(cfg) else 0.0
    if lag >= cfg.max_policy_lag:
        warnings.append(
            f"expected policy lag ~{lag:.1f} versions >= --max_policy_lag={cfg.max_policy_lag}: most experience "
            "would be discarded; raise --max_policy_lag or lower num_epochs/num_batches_per_epoch"
        )
    return warnings


def verify_cfg(cfg: Config, env_info: Any = None) -> bool:
    """Log every error and warning; False when the configuration cannot run."""
    for w in config_warnings(cfg):
        log.warning(w)
    errors = config_errors(cfg, env_info)
    for e in errors:
        log.error(e)
    return not errors
