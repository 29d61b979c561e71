"""Run descriptions for the launcher: parameter grids/lists, experiments, and the command lines they expand to.

RUN_DESCRIPTION = RunDescription("cartpole", [Experiment("seeds", "python -m sf_examples.train_gym_env ...",
                                                         ParamGrid([("seed", seeds(4))]).generate_params())])
"""

from __future__ import annotations

import itertools
import os
import random
import re
import shlex
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

ParamDict = dict[str, Any]


class ParamGenerator:
    """Base of parameter generators: `generate_params()` yields one dict {param_name: value} per experiment."""

    def generate_params(self, randomize: bool = True) -> Iterator[ParamDict]:
        raise NotImplementedError


class ParamList(ParamGenerator):
    """An explicit list of parameter dicts; yielded in random order by default."""

    def __init__(self, combinations: Sequence[ParamDict]):
        self.combinations = [dict(c) for c in combinations]

    def generate_params(self, randomize: bool = True) -> Iterator[ParamDict]:
        combinations = [dict(c) for c in self.combinations]
        if randomize:
            random.shuffle(combinations)
        yield from combinations


class ParamGrid(ParamGenerator):
    """The cartesian product of parameter values, in insertion order (the first parameter varies slowest).

    Each entry is `(name, values)`, or `((name1, name2, ...), (joint_values1, joint_values2, ...))` for parameters
    that change together: every `joint_values` sequence gives one value per name. Example:
    `ParamGrid([("seed", [1, 2]), (("env", "lr"), (["a", 0.1], ["b", 0.2]))])` yields 4 combinations:
    seed=1 env=a lr=0.1, seed=1 env=b lr=0.2, seed=2 env=a lr=0.1, seed=2 env=b lr=0.2.
    """

    def __init__(self, grid_tuples: Sequence[tuple[str | tuple[str, ...], Iterable[Any]]]):
        self.grid: list[list[ParamDict]] = []  # per grid entry, the partial dicts it can contribute
        for entry in grid_tuples:
            name, values = entry
            if not isinstance(values, list | tuple | range):
                values = [values]
            if isinstance(name, tuple | list):
                options = []
                for joint in values:
                    if not isinstance(joint, list | tuple) or len(joint) != len(name):
                        raise ValueError(f"Joint parameters {tuple(name)} need {len(name)} values each, got {joint!r}")
                    options.append(dict(zip(name, joint)))
            else:
                options = [{name: v} for v in values]
            if not options:
                raise ValueError(f"Parameter {name!r} has no values")
            self.grid.append(options)

    def generate_params(self, randomize: bool = False) -> Iterator[ParamDict]:
        combinations = []
        for parts in itertools.product(*self.grid):
            params: ParamDict = {}
            for part in parts:
                params.update(part)
            combinations.append(params)
        if randomize:
            random.shuffle(combinations)
        yield from combinations


def _tokens(param_name: str) -> list[str]:
    return [t for t in re.split(r"[._-]", param_name.lstrip("-")) if t] or [param_name]


def short_param_name(param_name: str, num_letters: int = 3) -> str:
    """First letters of the `[._-]`-separated tokens but the last, plus `num_letters` of the last token.

    `seed` -> `see`, `learning_rate` -> `lrat`, `env` -> `env`.
    """
    tokens = _tokens(param_name)
    return "".join(t[0] for t in tokens[:-1]) + tokens[-1][:num_letters]


def short_param_names(param_names: Sequence[str]) -> dict[str, str]:
    """Short names that are unique among `param_names`: lengthened (from 3 letters) until they differ."""
    names = list(dict.fromkeys(param_names))
    longest = max((len(_tokens(n)[-1]) for n in names), default=3)
    for num_letters in range(3, max(3, longest) + 1):
        short = {n: short_param_name(n, num_letters) for n in names}
        if len(set(short.values())) == len(names):
            return short
    return {n: n.lstrip("-") for n in names}  # tokens that differ only before the last one: use the full names


def _name_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "-".join(_name_value(v) for v in value)
    return re.sub(r"[\s/\\]+", "_", str(value))


def _cmd_arg(prefix: str, name: str, value: Any) -> str:
    if isinstance(value, list | tuple):  # list parameters (nargs) take space-separated values
        return " ".join([f"{prefix}{name}", *(shlex.quote(str(v)) for v in value)])
    return f"{prefix}{name}={shlex.quote(str(value))}"


class Experiment:
    """One base command and the parameter combinations to run it with (each combination = one process/job).

    `param_generator` is an iterable of dicts (e.g. `ParamGrid(...).generate_params(randomize=False)`) or a
    `ParamGenerator`; it is read once, here. `env_vars` are set for every run of this experiment.
    """

    def __init__(
        self,
        name: str,
        cmd: str,
        param_generator: Iterable[ParamDict] | ParamGenerator = (),
        env_vars: dict[str, str] | None = None,
    ):
        self.base_name = name
        self.cmd = cmd
        if isinstance(param_generator, ParamGenerator):
            param_generator = param_generator.generate_params()
        self.params: list[ParamDict] = [dict(p) for p in param_generator] or [{}]
        self.env_vars = dict(env_vars or {})

    @property
    def name(self) -> str:
        return self.base_name

    def generate_experiments(
        self, experiment_arg_name: str | None, customize_experiment_name: bool, param_prefix: str
    ) -> Iterator[tuple[str, str]]:
        """Yield `(command, experiment_name)` per parameter combination (without the train_dir argument)."""
        all_names = [k for params in self.params for k in params]
        short = short_param_names(all_names)
        for idx, params in enumerate(self.params):
            if customize_experiment_name:
                parts = [f"{idx:02d}", self.base_name]
                for k, v in params.items():
                    parts += [short[k], _name_value(v)]
                experiment_name = "_".join(parts)
            else:
                experiment_name = self.base_name
            args = [self.cmd] + [_cmd_arg(param_prefix, k, v) for k, v in params.items()]
            if experiment_arg_name and experiment_arg_name.lstrip("-") not in params:
                args.append(f"{experiment_arg_name}={shlex.quote(experiment_name)}")
            yield " ".join(args), experiment_name


class GeneratedExperiment(NamedTuple):
    """One launchable run: the full command line, its experiment name and train_dir, and extra env variables."""

    cmd: str
    experiment_name: str
    experiment_dir: str
    env_vars: dict[str, str]


class RunDescription:
    """A named group of experiments: `generate_experiments(train_dir)` expands them into command lines.

    Each command is `<cmd> --p=v ... --experiment=NN_<base>_<short>_<v>... --train_dir=<train_dir>/<run_name>/<base>`
    (`<base>_<suffix>` when an experiment suffix is given). `experiment_arg_name`/`experiment_dir_arg_name` may be
    None to leave that argument out (for commands that are not Sample Factory scripts).
    """

    def __init__(
        self,
        run_name: str,
        experiments: Sequence[Experiment],
        experiment_arg_name: str | None = "--experiment",
        experiment_dir_arg_name: str | None = "--train_dir",
        customize_experiment_name: bool = True,
        param_prefix: str = "--",
    ):
        self.run_name = run_name
        self.experiments = list(experiments)
        self.experiment_arg_name = experiment_arg_name
        self.experiment_dir_arg_name = experiment_dir_arg_name
        self.customize_experiment_name = customize_experiment_name
        self.param_prefix = param_prefix
        self.experiment_suffix = ""

    def experiment_dir(self, train_dir: str, experiment: Experiment, experiment_suffix: str | None = None) -> str:
        suffix = self.experiment_suffix if experiment_suffix is None else experiment_suffix
        folder = f"{experiment.base_name}_{suffix}" if suffix else experiment.base_name
        return os.path.join(train_dir, self.run_name, folder)

    def generate_experiments(self, train_dir: str, experiment_suffix: str | None = None) -> list[GeneratedExperiment]:
        """All runs of all experiments, in order."""
        runs = []
        for experiment in self.experiments:
            exp_dir = self.experiment_dir(train_dir, experiment, experiment_suffix)
            for cmd, name in experiment.generate_experiments(
                self.experiment_arg_name, self.customize_experiment_name, self.param_prefix
            ):
                if self.experiment_dir_arg_name:
                    cmd = f"{cmd} {self.experiment_dir_arg_name}={shlex.quote(exp_dir)}"
                runs.append(GeneratedExperiment(cmd, name, exp_dir, dict(experiment.env_vars)))
        return runs
