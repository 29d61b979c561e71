"""Small helpers for writing run descriptions (`seeds`) and for the launcher backends (module loading)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType


def seeds(num_seeds: int) -> list[int]:
    """`num_seeds` distinct, reproducible seeds: 1111, 2222, 3333, ... (easy to spot in experiment names)."""
    if num_seeds < 0:
        raise ValueError(f"num_seeds must be >= 0, got {num_seeds}")
    return [1111 * (i + 1) for i in range(num_seeds)]


def load_run_module(run: str) -> ModuleType:
    """Import a run description by module name (`sf_examples.experiments.cartpole_seeds`) or by .py file path."""
    if run.endswith(".py") or os.sep in run:
        path = os.path.abspath(run)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--run={run}: no such file")
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"--run={run}: cannot load this file as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(run)
