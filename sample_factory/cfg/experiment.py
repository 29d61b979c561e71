"""The experiment folder lifecycle: validate, then resume / restart / overwrite, save config.json and git.diff,
and describe the configuration (data regime, where each value came from) at start-up.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

from sample_factory.cfg.arguments import (
    LOCATION_KEYS,
    META_KEYS,
    ConfigProvenance,
    build_parser,
    cfg_dict,
    config_provenance,
    merge_saved_config,
    preprocess_cfg,
    read_saved_config,
    set_config_provenance,
)
from sample_factory.cfg.verify import (
    ConfigError,
    config_errors,
    config_warnings,
    effective_recurrence,
    expected_policy_lag,
)
from sample_factory.utils.attr_dict import AttrDict
from sample_factory.utils.typing import Config
from sample_factory.utils.utils import LOG_FORMAT, cfg_file, ensure_dir_exists, experiment_dir, log


def _find_saved_config(exp_dir: str) -> str | None:
    """config.json, or a legacy cfg.json (Sample Factory < 2.0.2), without touching anything."""
    for name in ("config.json", "cfg.json"):
        path = os.path.join(exp_dir, name)
        if os.path.isfile(path):
            return path
    return None


def restart_dir_name(exp_dir: str) -> str:
    """`<exp_dir>_old0001`, or the next free number."""
    n = 1
    while os.path.exists(f"{exp_dir}_old{n:04d}"):
        n += 1
    return f"{exp_dir}_old{n:04d}"


def _same_type_as(template: Config, merged: AttrDict) -> Config:
    """The merged config as the same kind of object as `template` (a Namespace stays a Namespace)."""
    if isinstance(template, argparse.Namespace):
        result: Config = argparse.Namespace(**merged)
        prov = config_provenance(merged)
        if prov is not None:
            set_config_provenance(result, prov)
        return result
    return merged


@dataclass
class ExperimentPlan:
    """What prepare_experiment will do, decided without touching the file system."""

    cfg: Config  # merged (on resume) and preprocessed
    exp_dir: str
    action: str  # "new", "resume", "resume_without_config", "restart", "overwrite"
    saved_path: str | None = None


def plan_experiment(cfg: Config, env_info: Any = None) -> ExperimentPlan:
    """Read-only: merge a saved config.json on resume, resolve derived values and validate.

    Raises ConfigError for an invalid configuration or a corrupt config.json (which stays untouched).
    """
    exp_dir = experiment_dir(cfg, mkdir=False)
    exists = os.path.isdir(exp_dir)
    behavior = getattr(cfg, "restart_behavior", "resume")
    saved_path = _find_saved_config(exp_dir) if exists and behavior == "resume" else None
    if saved_path is not None:
        cfg = _same_type_as(cfg, merge_saved_config(cfg, read_saved_config(saved_path), saved_path))
    else:
        prov = config_provenance(cfg)
        cfg = copy.copy(cfg)
        if prov is not None:
            set_config_provenance(cfg, copy.copy(prov))
    errors = config_errors(preprocess_cfg(copy.copy(cfg)), env_info, check_env=True)
    if errors:
        raise ConfigError(errors)
    if not exists:
        action = "new"
    elif behavior in ("restart", "overwrite"):
        action = behavior
    else:
        action = "resume" if saved_path is not None else "resume_without_config"
    return ExperimentPlan(cfg=cfg, exp_dir=exp_dir, action=action, saved_path=saved_path)


def prepare_experiment(cfg: Config, env_info: Any = None) -> Config:
    """Validate everything, then set up `<train_dir>/<experiment>` according to --restart_behavior.

    resume: merge the saved config.json (CLI > saved > defaults); restart: move the old folder to
    `<experiment>_old000N`; overwrite: delete it. Raises ConfigError (nothing moved, deleted or written) when the
    configuration is invalid or a saved config.json is corrupt. Then saves config.json and git.diff, attaches
    sf_log.txt (if log_to_file), logs the start-up description and falls back to the CPU without CUDA.
    The passed cfg object is updated in place (resumed values included) and returned.
    """
    plan = plan_experiment(cfg, env_info)
    cfg, exp_dir = _update_in_place(cfg, plan.cfg), plan.exp_dir
    # ---- valid: only now touch the file system ----
    if plan.action == "restart":
        detach_log_file(cfg)
        target = restart_dir_name(exp_dir)
        shutil.move(exp_dir, target)
        log.info("Moved the existing experiment folder %s to %s (--restart_behavior=restart)", exp_dir, target)
    elif plan.action == "overwrite":
        detach_log_file(cfg)
        shutil.rmtree(exp_dir)
        log.info("Deleted the existing experiment folder %s (--restart_behavior=overwrite)", exp_dir)
    elif plan.action == "resume_without_config":
        log.warning("Experiment folder %s exists but holds no config.json: starting with the current config", exp_dir)
    if plan.saved_path is not None and os.path.basename(plan.saved_path) == "cfg.json":
        os.rename(plan.saved_path, cfg_file(cfg))

    _finalize(cfg)
    ensure_dir_exists(exp_dir)
    save_config(cfg)
    write_git_diff(cfg)
    if getattr(cfg, "log_to_file", False):
        attach_log_file(cfg)
    log.info("%s experiment %s", "Resuming" if plan.action == "resume" else "Starting", exp_dir)
    for line in describe_config(cfg, num_agents=getattr(env_info, "num_agents", None)):
        log.info(line)
    for warning in config_warnings(cfg):
        log.warning(warning)
    resolve_device(cfg)
    return cfg


def _update_in_place(target: Config, source: Config) -> Config:
    """Give `target` exactly the values of `source` (callers holding the original object see the result)."""
    values = cfg_dict(source)
    if isinstance(target, dict):
        target.clear()
        target.update(values)
    else:
        vars(target).clear()
        vars(target).update(values)
    prov = config_provenance(source)
    if prov is not None:
        set_config_provenance(target, prov)
    return target


def _finalize(cfg: Config) -> None:
    """Resolve derived values; on resume, record a re-derived recurrence as a change."""
    preprocess_cfg(cfg)
    prov = config_provenance(cfg)
    if prov is not None and prov.saved is not None and prov.saved.get("recurrence", cfg.recurrence) != cfg.recurrence:
        prov.changed_on_resume["recurrence"] = (prov.saved["recurrence"], cfg.recurrence)


def save_config(cfg: Config) -> str:
    """Write `<experiment>/config.json` atomically (temp file + os.replace): every parameter, no `help` key."""
    path = cfg_file(cfg)
    ensure_dir_exists(os.path.dirname(path))
    data = {k: v for k, v in cfg_dict(cfg).items() if k != "help"}
    fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=_json_default)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, set | tuple):
        return list(value)
    return str(value)


def _git(args: list[str], cwd: str | None = None) -> str | None:
    try:
        res = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, cwd=cwd, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def write_git_diff(cfg: Config) -> str | None:
    """`git diff` of the cwd's repository into `<experiment>/git.diff`; None when cwd is not inside a git repo."""
    root = _git(["rev-parse", "--show-toplevel"])
    if root is None:
        return None
    diff = _git(["diff"], cwd=root.strip())
    path = os.path.join(experiment_dir(cfg), "git.diff")
    with open(path, "w") as f:
        f.write(diff or "")
    return path


def _log_path(cfg: Config) -> str:
    return os.path.abspath(os.path.join(experiment_dir(cfg, mkdir=False), "sf_log.txt"))


def attach_log_file(cfg: Config) -> logging.Handler:
    """Also log to `<experiment>/sf_log.txt`; idempotent (a handler for the same file is reused)."""
    path = _log_path(cfg)
    for h in log.handlers:
        if isinstance(h, logging.FileHandler) and os.path.abspath(h.baseFilename) == path:
            return h
    ensure_dir_exists(os.path.dirname(path))
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    log.addHandler(handler)
    return handler


def detach_log_file(cfg: Config) -> None:
    """Stop logging to this experiment's sf_log.txt (before the folder is moved or deleted, and at the end)."""
    path = _log_path(cfg)
    for h in list(log.handlers):
        if isinstance(h, logging.FileHandler) and os.path.abspath(h.baseFilename) == path:
            log.removeHandler(h)
            h.close()


def resolve_device(cfg: Config) -> Config:
    """--device=gpu without CUDA: warn and use the CPU instead of failing."""
    if getattr(cfg, "device", "cpu") == "gpu":
        import torch

        if not torch.cuda.is_available():
            log.warning(
                "--device=gpu but CUDA is not available: running on the CPU (pass --device=cpu to silence this)"
            )
            cfg.device = "cpu"
    return cfg


_MISSING = object()


def _auto(cfg: Config) -> argparse.Namespace:
    return argparse.Namespace(recurrence=-1, rollout=cfg.rollout, use_rnn=cfg.use_rnn)


def _fallback_provenance(cfg: Config) -> ConfigProvenance:
    d = cfg_dict(cfg)
    defaults = {a.dest: a.default for a in build_parser("policy_index" in d)._actions if a.dest != "help"}
    return ConfigProvenance(sf_defaults=defaults, parser_defaults=defaults, cli_args=dict(d.get("cli_args") or {}))


def value_sources(cfg: Config, provenance: ConfigProvenance | None = None) -> dict[str, str]:
    """For every value that differs from the framework default: its source (command line, saved config.json,
    environment defaults, set in code, derived)."""
    prov = provenance or config_provenance(cfg) or _fallback_provenance(cfg)
    sources: dict[str, str] = {}
    for key, value in cfg_dict(cfg).items():
        if key in META_KEYS or key == "help":
            continue
        default = prov.parser_defaults.get(key, _MISSING)
        saved = prov.saved.get(key, _MISSING) if prov.saved is not None else _MISSING
        if key in prov.cli_args:
            sources[key] = "command line"
        elif key == "recurrence" and default == -1 and value != -1 and value == effective_recurrence(_auto(cfg)):
            sources[key] = "derived from --recurrence=-1"
        elif saved is not _MISSING and saved == value and value != default and key not in LOCATION_KEYS:
            sources[key] = "saved config.json"
        elif default is _MISSING:
            sources[key] = "set in code"
        elif value != default:
            sources[key] = "set in code"
        elif key in prov.sf_defaults and value != prov.sf_defaults[key]:
            sources[key] = "environment defaults"
    return sources


def data_regime(cfg: Config, num_agents: int | None = None) -> dict[str, float]:
    """The numbers behind the start-up description (see describe_config)."""
    agents = num_agents or 1
    collected = cfg.num_workers * cfg.num_envs_per_worker * agents * cfg.rollout
    trained = cfg.batch_size * cfg.num_batches_per_epoch
    return {
        "samples_collected_per_iteration": collected,
        "samples_trained_per_iteration": trained,
        "trajectories_per_dataset": trained / cfg.rollout,
        "collection_rounds_per_dataset": trained / (collected / cfg.num_policies),
        "sgd_steps_per_dataset": cfg.num_epochs * cfg.num_batches_per_epoch,
        "expected_policy_lag": expected_policy_lag(cfg, agents),
    }


def describe_config(
    cfg: Config, num_agents: int | None = None, provenance: ConfigProvenance | None = None
) -> list[str]:
    """Lines for the start-up log: data regime, the source of every non-default value, and changes on resume."""
    r = data_regime(cfg, num_agents)
    agents = f" * {num_agents} agents" if num_agents else " (x agents per env for multi-agent envs)"
    per_policy = (
        f", {r['samples_collected_per_iteration'] / cfg.num_policies:g} per policy" if cfg.num_policies > 1 else ""
    )
    sgd = int(r["sgd_steps_per_dataset"])
    within = f"minibatch k of the {sgd} per dataset is trained k versions after collection, mean {(sgd - 1) / 2:g}"
    if cfg.async_rl:
        lag_how = (
            f"(async, sampler and learner keeping pace: {within}, plus num_epochs * max(collected, dataset) / "
            f"(2 * batch_size) while samples wait for their trajectory and dataset; a slower learner adds up to "
            f"num_batches_to_accumulate={cfg.num_batches_to_accumulate} * {sgd})"
        )
    else:
        lag_how = f"(sync: {within})"
    lines = [
        "Data regime:",
        f"  samples collected per iteration: num_workers={cfg.num_workers} * num_envs_per_worker="
        f"{cfg.num_envs_per_worker} * rollout={cfg.rollout}{agents} = {r['samples_collected_per_iteration']:g}"
        f"{per_policy}",
        f"  samples trained per iteration (dataset): batch_size={cfg.batch_size} * num_batches_per_epoch="
        f"{cfg.num_batches_per_epoch} = {r['samples_trained_per_iteration']:g} "
        f"({r['trajectories_per_dataset']:g} trajectories of {cfg.rollout} steps)",
        f"  one dataset takes {r['collection_rounds_per_dataset']:.3g} collection iterations to fill and lasts "
        f"num_epochs={cfg.num_epochs} * num_batches_per_epoch={cfg.num_batches_per_epoch} = {sgd} SGD steps "
        f"(each sample is trained on {cfg.num_epochs} time(s))",
        f"  expected policy lag: ~{r['expected_policy_lag']:.2f} policy versions {lag_how}; "
        f"max_policy_lag={cfg.max_policy_lag}",
    ]
    prov = provenance or config_provenance(cfg)
    sources = value_sources(cfg, prov)
    if sources:
        lines.append("Values given explicitly or differing from the framework defaults:")
        d = cfg_dict(cfg)
        lines += [f"  --{k}={d[k]!r} ({src})" for k, src in sources.items()]
    if prov is not None and prov.saved is not None:
        if prov.changed_on_resume:
            lines.append(f"Changed vs the saved {prov.saved_path or 'config.json'}:")
            lines += [f"  --{k}: {old!r} -> {new!r}" for k, (old, new) in prov.changed_on_resume.items()]
        else:
            lines.append(f"No parameter changed vs the saved {prov.saved_path or 'config.json'}")
        if prov.new_on_resume:
            lines.append("Not in the saved config.json (current defaults used): " + ", ".join(prov.new_on_resume))
    return lines
