"""Small shared helpers: the `log` logger, `str2bool`, experiment paths and misc decorators."""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sf")
if not log.handlers:
    _handler = logging.StreamHandler(sys.stdout)
    _handler.setFormatter(logging.Formatter("[%(asctime)s][%(process)05d] %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.DEBUG if os.environ.get("SF_DEBUG") else logging.INFO)
    log.propagate = False

LOG_FORMAT = "[%(asctime)s][%(process)05d] %(message)s"


def str2bool(v: str | bool) -> bool:
    """Parse 'true'/'false' (any case) into a bool; anything else is an argparse error."""
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() == "true":
        return True
    if isinstance(v, str) and v.lower() == "false":
        return False
    raise argparse.ArgumentTypeError(f"Boolean value expected (True or False), got {v!r}")


def is_module_available(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False


def ensure_dir_exists(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


def experiments_dir(cfg: Any) -> str:
    return ensure_dir_exists(cfg.train_dir)


def experiment_dir(cfg: Any, mkdir: bool = True) -> str:
    """`<train_dir>/<experiment>`, created unless mkdir=False."""
    path = os.path.join(cfg.train_dir, cfg.experiment)
    return ensure_dir_exists(path) if mkdir else path


def checkpoint_dir(cfg: Any, policy_id: int) -> str:
    return ensure_dir_exists(os.path.join(experiment_dir(cfg), f"checkpoint_p{policy_id}"))


def summaries_dir(experiment_path: str, policy_id: int | None = None) -> str:
    path = os.path.join(experiment_path, ".summary")
    if policy_id is not None:
        path = os.path.join(path, str(policy_id))
    return ensure_dir_exists(path)


def cfg_file(cfg: Any) -> str:
    return os.path.join(experiment_dir(cfg, mkdir=False), "config.json")


def project_tmp_dir() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return ensure_dir_exists(os.path.join(tempfile.gettempdir(), f"sf2_{user}"))


def static_vars(**kwargs: Any) -> Callable:
    def decorate(func: Callable) -> Callable:
        for k, v in kwargs.items():
            setattr(func, k, v)
        return func

    return decorate


_last_logged: dict[str, float] = {}


def debug_log_every_n(n: int, msg: str, *args: Any, **kwargs: Any) -> None:
    """Log `msg` at debug level once every `n` calls with the same message."""
    key = msg
    count = _last_logged.get(key, 0) + 1
    _last_logged[key] = count
    if count % n == 1 or n == 1:
        log.debug(msg, *args, **kwargs)


def log_every_n(n: int, msg: str, *args: Any, **kwargs: Any) -> None:
    key = "info:" + msg
    count = _last_logged.get(key, 0) + 1
    _last_logged[key] = count
    if count % n == 1 or n == 1:
        log.info(msg, *args, **kwargs)
