"""Command-line parsing into a `cfg`, and loading saved configs: parse_sf_args -> (env scripts) -> parse_full_cfg.

Also records where each value came from (`config_provenance`) for the start-up report, outside the cfg itself.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import functools
import json
import os
import subprocess
import sys
import weakref
from dataclasses import dataclass, field
from typing import Any

from sample_factory.cfg.cfg import group_functions
from sample_factory.cfg.verify import ConfigError, config_errors, config_warnings, effective_recurrence, verify_cfg
from sample_factory.utils.attr_dict import AttrDict
from sample_factory.utils.typing import Config
from sample_factory.utils.utils import cfg_file, experiment_dir, log, str2bool

__all__ = [
    "ConfigError",
    "ConfigProvenance",
    "META_KEYS",
    "SfArgumentParser",
    "build_parser",
    "cfg_dict",
    "cfg_str",
    "checkpoint_override_defaults",
    "config_errors",
    "config_provenance",
    "config_warnings",
    "default_cfg",
    "load_from_checkpoint",
    "maybe_load_from_checkpoint",
    "parameter_table_markdown",
    "parse_full_cfg",
    "parse_sf_args",
    "preprocess_cfg",
    "str2bool",
    "verify_cfg",
]

# Keys describing the run itself (not parameters): refreshed on every run, never merged from a saved config.
META_KEYS = ("command_line", "cli_args", "git_hash", "git_repo_name")
# Where the experiment lives: the folder was found there, so a saved (possibly stale) path must not win.
LOCATION_KEYS = ("train_dir", "experiment")


class SfArgumentParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no 134-parameter usage dump) and exit with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {message} (run with --help to list all parameters)\n")


@dataclass
class ConfigProvenance:
    """Where values came from: framework defaults, defaults after env scripts, the CLI, and a resumed config."""

    sf_defaults: dict[str, Any]
    parser_defaults: dict[str, Any]
    cli_args: dict[str, Any]
    saved: dict[str, Any] | None = None
    saved_path: str | None = None
    changed_on_resume: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    new_on_resume: list[str] = field(default_factory=list)


_PROVENANCE: dict[int, ConfigProvenance] = {}


def config_provenance(cfg: Config) -> ConfigProvenance | None:
    """Provenance recorded by parse_full_cfg / load_from_checkpoint for this cfg object (None if unknown)."""
    return _PROVENANCE.get(id(cfg))


def set_config_provenance(cfg: Config, prov: ConfigProvenance) -> None:
    key = id(cfg)
    if key not in _PROVENANCE:
        weakref.finalize(cfg, _PROVENANCE.pop, key, None)
    _PROVENANCE[key] = prov


def build_parser(evaluation: bool = False, prog: str | None = None) -> SfArgumentParser:
    """A fresh parser with every framework parameter (no env-specific ones)."""
    parser = SfArgumentParser(
        prog=prog,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        add_help=False,
        allow_abbrev=False,  # a prefix of a not-yet-added env parameter must not match a framework one
        description="Sample Factory: asynchronous PPO. Values given here win over a resumed experiment's config.json.",
    )
    parser._optionals.title = "parameters added by the environment script"
    for add_group in group_functions(evaluation):
        add_group(parser)
    return parser


def _env_action(parser: argparse.ArgumentParser) -> argparse.Action | None:
    return next((a for a in parser._actions if a.dest == "env"), None)


def _parse_known_env_optional(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, list]:
    """parse_known_args with --env temporarily optional, so that --help can be answered without it."""
    action = _env_action(parser)
    required = action.required if action is not None else False
    if action is not None:
        action.required = False
    try:
        return parser.parse_known_args(argv)
    finally:
        if action is not None:
            action.required = required


def _require_env(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    action = _env_action(parser)
    if action is not None and action.required and getattr(args, "env", None) is None:
        from sample_factory.envs.env_utils import registered_env_names

        names = registered_env_names()
        listing = f" Registered: {', '.join(names)}." if names else ""
        parser.error(f"--env is required, e.g. --env=CartPole-v1 (any gymnasium id works).{listing}")


def parse_sf_args(argv: list[str] | None = None, evaluation: bool = False) -> tuple[argparse.ArgumentParser, Any]:
    """First pass: the framework's parameters only, unknown (env-specific) ones tolerated.

    Returns the parser so env scripts can add parameters and override defaults (possibly based on partial.env)
    before `parse_full_cfg`. `--help` with an --env is answered later, after the env's parameters were added.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(evaluation)
    partial, _unknown = _parse_known_env_optional(parser, argv)
    if partial.help and partial.env is None:
        parser.print_help()
        print("\nPass --env=<name> together with --help to also list that environment's own parameters.")
        sys.exit(0)
    _require_env(parser, partial)
    return parser, partial


def _closest_option(parser: argparse.ArgumentParser, arg: str) -> str | None:
    options = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    name = arg.split("=", 1)[0]
    if not name.startswith("--"):
        name = "--" + name.lstrip("-")

    # a typo usually sits in a prefix of the intended name ("--num_envz" -> "--num_envs_per_worker"): score each
    # option by its best similarity to the name, whole or truncated to the name's length
    def score(option: str) -> float:
        whole = difflib.SequenceMatcher(None, name, option).ratio()
        prefix = difflib.SequenceMatcher(None, name, option[: len(name)]).ratio() - 0.05
        return max(whole, prefix)

    best = max(options, key=score, default=None)
    return best if best is not None and score(best) >= 0.6 else None


def _unknown_args_error(parser: argparse.ArgumentParser, unknown: list[str]) -> None:
    options = [u for u in unknown if u.startswith("-")] or unknown
    first = options[0]
    name = first.split("=", 1)[0]
    if not first.startswith("-"):
        parser.error(f"unexpected value {first!r}: parameters are given as --name=value")
    close = _closest_option(parser, first)
    hint = f"; did you mean {close}?" if close else ""
    others = f" (also unknown: {' '.join(o.split('=', 1)[0] for o in options[1:])})" if len(options) > 1 else ""
    parser.error(f"unknown parameter {name}{hint}{others}")


def _cli_args(parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, Any]:
    """Args explicitly on the command line, even when equal to their default (re-parse with all defaults None)."""
    no_defaults = copy.deepcopy(parser)
    for action in no_defaults._actions:
        action.default = None
        action.required = False
    no_defaults._defaults = {}
    args, _ = no_defaults.parse_known_args(argv)
    return {k: v for k, v in vars(args).items() if v is not None}


def _git_info() -> tuple[str, str]:
    """(hash, repo name) of the cwd's git repository, or ("unknown", "not a git repository")."""
    return _git_info_for(os.getcwd())


@functools.lru_cache(maxsize=8)
def _git_info_for(cwd: str) -> tuple[str, str]:

    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    root = git("rev-parse", "--show-toplevel")
    if root is None:
        return "unknown", "not a git repository"
    git_hash = git("rev-parse", "HEAD") or "unknown"
    repo = git("config", "--get", "remote.origin.url") or os.path.basename(root)
    return git_hash, repo


def _parser_defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    defaults = {a.dest: a.default for a in parser._actions if a.dest != argparse.SUPPRESS}
    defaults.update(parser._defaults)
    defaults.pop("help", None)
    return defaults


def postprocess_args(args: argparse.Namespace, argv: list[str], parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Add command_line, cli_args, git_hash, git_repo_name; copy list defaults (they are shared with the parser)."""
    for key, value in vars(args).items():
        if isinstance(value, list):
            setattr(args, key, list(value))
    args.command_line = " ".join(argv)
    args.cli_args = _cli_args(parser, argv)
    args.git_hash, args.git_repo_name = _git_info()
    evaluation = any(a.dest == "policy_index" for a in parser._actions)
    prov = ConfigProvenance(
        sf_defaults=_parser_defaults(build_parser(evaluation)),
        parser_defaults=_parser_defaults(parser),
        cli_args=dict(args.cli_args),
    )
    set_config_provenance(args, prov)
    return args


def parse_full_cfg(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Second, strict pass. Answers --help (with env parameters and overridden defaults, exit 0).

    Unknown parameters exit with code 2 and a one-line error naming the closest known parameter.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args, unknown = _parse_known_env_optional(parser, argv)
    if getattr(args, "help", False):
        parser.print_help()
        sys.exit(0)
    if unknown:
        _unknown_args_error(parser, unknown)
    _require_env(parser, args)
    return postprocess_args(args, argv, parser)


def preprocess_cfg(cfg: Config) -> Config:
    """Resolve derived values in place: recurrence -1 becomes rollout with an RNN, else 1."""
    cfg.recurrence = effective_recurrence(cfg)
    return cfg


def default_cfg(algo: str = "APPO", env: str = "env", experiment: str = "test") -> argparse.Namespace:
    """The full default configuration (as if run with only these three arguments)."""
    argv = [f"--algo={algo}", f"--env={env}", f"--experiment={experiment}"]
    parser, _ = parse_sf_args(argv)
    return parse_full_cfg(parser, argv)


def cfg_dict(cfg: Config) -> dict[str, Any]:
    """A plain dict of the cfg (Namespace, AttrDict or dict)."""
    if isinstance(cfg, dict):
        return dict(cfg)
    return dict(vars(cfg))


def cfg_str(cfg: Config) -> str:
    return "\n".join(f"{k}={v!r}" for k, v in cfg_dict(cfg).items())


def _saved_config_path(cfg: Config) -> str | None:
    """config.json of the experiment, renaming a legacy cfg.json (Sample Factory < 2.0.2) first."""
    path = cfg_file(cfg)
    legacy = os.path.join(os.path.dirname(path), "cfg.json")
    if not os.path.isfile(path) and os.path.isfile(legacy):
        log.warning("Renaming legacy %s to %s", legacy, path)
        os.rename(legacy, path)
    return path if os.path.isfile(path) else None


def read_saved_config(path: str) -> dict[str, Any]:
    """Read a saved config.json (read only). A corrupt file raises ConfigError naming it."""
    try:
        with open(path) as f:
            saved = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid JSON ({exc}); it was left unchanged. Fix or delete it, or pass "
            "--restart_behavior=restart (moves the old folder aside) or --restart_behavior=overwrite"
        ) from exc
    if not isinstance(saved, dict):
        raise ConfigError(f"{path} does not hold a JSON object; it was left unchanged. Fix or delete it")
    saved.pop("help", None)
    return saved


def merge_saved_config(cfg: Config, saved: dict[str, Any], saved_path: str | None = None) -> AttrDict:
    """CLI-passed > saved config.json > current defaults. Meta and location keys always come from this run."""
    current = cfg_dict(cfg)
    cli_args = current.get("cli_args") or {}
    merged = AttrDict(saved)
    changed: dict[str, tuple[Any, Any]] = {}
    for key, value in cli_args.items():
        if key == "help":
            continue
        if key in merged and merged[key] != value:
            changed[key] = (merged[key], value)
        merged[key] = value
    saved_cli = saved.get("cli_args") or {}
    if "recurrence" in saved and "recurrence" not in saved_cli and "recurrence" not in cli_args:
        # the saved value was derived from recurrence=-1: derive it again, from the possibly changed rollout/use_rnn
        derived = saved.get("rollout") if saved.get("use_rnn") else 1
        if saved["recurrence"] == derived:
            merged["recurrence"] = -1
    for key in (*META_KEYS, *LOCATION_KEYS):
        if key in current:
            if key in LOCATION_KEYS and merged.get(key) != current[key] and key not in cli_args:
                changed[key] = (merged.get(key), current[key])
            merged[key] = current[key]
    new_keys = [k for k in current if k not in merged and k != "help"]
    for key in new_keys:
        merged[key] = current[key]
    merged.pop("help", None)

    prov = config_provenance(cfg)
    if prov is None:
        prov = ConfigProvenance(sf_defaults={}, parser_defaults={}, cli_args=dict(cli_args))
    prov = copy.copy(prov)
    prov.saved, prov.saved_path = dict(saved), saved_path
    prov.changed_on_resume, prov.new_on_resume = changed, [k for k in new_keys if k not in META_KEYS]
    set_config_provenance(merged, prov)
    return merged


def load_from_checkpoint(cfg: Config) -> AttrDict:
    """The saved config.json of cfg's experiment merged with cfg (CLI wins). A missing file raises ConfigError."""
    path = _saved_config_path(cfg)
    if path is None:
        raise ConfigError(
            f"No config.json in {experiment_dir(cfg, mkdir=False)}: check --train_dir={cfg.train_dir} and "
            f"--experiment={cfg.experiment} (the folder of a trained experiment holds config.json)"
        )
    merged = merge_saved_config(cfg, read_saved_config(path), path)
    for key, (old, new) in config_provenance(merged).changed_on_resume.items():  # type: ignore[union-attr]
        log.debug("Overriding saved %s=%r with %r", key, old, new)
    return merged


def maybe_load_from_checkpoint(cfg: Config) -> Config:
    """load_from_checkpoint, or cfg itself (with a warning) when the experiment has no config.json yet."""
    if _saved_config_path(cfg) is None:
        log.warning("No saved config.json in %s: using the current configuration", experiment_dir(cfg, mkdir=False))
        return cfg
    return load_from_checkpoint(cfg)


def checkpoint_override_defaults(cfg: Config, parser: argparse.ArgumentParser) -> AttrDict:
    """Make the saved config.json values the parser's defaults (re-parse afterwards: CLI still wins)."""
    path = _saved_config_path(cfg)
    if path is None:
        raise ConfigError(f"No config.json in {experiment_dir(cfg, mkdir=False)}: cannot load the saved config")
    saved = AttrDict(read_saved_config(path))
    skip = (*META_KEYS, *LOCATION_KEYS, "help")
    parser.set_defaults(**{k: v for k, v in saved.items() if k not in skip})
    return saved


def parameter_table_markdown(evaluation: bool = True) -> str:
    """Markdown tables (one per group) of every parameter: name, type, default, choices, help."""
    parser = build_parser(evaluation)
    env_dependent = {
        "train_dir": "`$CWD/train_dir`",
        "wandb_dir": "`$CWD/wandb`",
        "num_workers": "number of logical cores",
    }
    lines: list[str] = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions]
        if not actions:
            continue
        lines += [f"### {group.title}", ""]
        if group.description:
            lines += [group.description, ""]
        lines += ["| parameter | type | default | help |", "|---|---|---|---|"]
        for a in actions:
            if isinstance(a, argparse._StoreTrueAction):
                typ = "flag"
            else:
                typ = "bool" if a.type is str2bool else getattr(a.type, "__name__", "str")
                if a.nargs == "*":
                    typ = f"list of {typ}"
            if a.choices:
                typ += " {" + ", ".join(a.choices) + "}"
            default = env_dependent.get(a.dest, f"`{a.default!r}`")
            name = ", ".join(f"`{s}`" for s in a.option_strings)
            text = (a.help or "").replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")
            lines.append(f"| {name} | {typ} | {default} | {text} |")
        lines.append("")
    return "\n".join(lines)
