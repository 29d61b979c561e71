"""The "ngc" launcher backend: fill `{{ name }}` and `{{ experiment_cmd }}` in an NGC job command template and run it
in a shell (or only print it with `--ngc_print_only=True`)."""

from __future__ import annotations

import argparse
import subprocess
import time

from sample_factory.launcher.run_description import RunDescription
from sample_factory.utils.utils import log, str2bool

# a starting point only: real jobs need at least --image and --instance for your NGC team (use --ngc_job_template)
DEFAULT_NGC_JOB_TEMPLATE = 'ngc batch run --name "{{ name }}" --commandline "{{ experiment_cmd }}"'


def add_ngc_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("ngc backend")
    g.add_argument(
        "--ngc_job_template",
        default=None,
        type=str,
        help="File holding the `ngc batch run ...` command with {{ name }} and {{ experiment_cmd }} placeholders",
    )
    g.add_argument("--ngc_print_only", default=False, type=str2bool, help="Print the job commands, run nothing")


def ngc_job_command(template: str, name: str, experiment_cmd: str) -> str:
    """`template` with `{{ name }}` and `{{ experiment_cmd }}` replaced (spaces inside the braces are optional)."""
    out = template
    for key, value in (("name", name), ("experiment_cmd", experiment_cmd)):
        for placeholder in (f"{{{{ {key} }}}}", f"{{{{{key}}}}}"):
            out = out.replace(placeholder, value)
    return out.strip()


def run(run_description: RunDescription, args: argparse.Namespace) -> int:
    """Print or run one NGC job command per experiment; 0 on success, 1 if a command failed."""
    if args.ngc_job_template:
        with open(args.ngc_job_template) as f:
            template = f.read()
    elif args.ngc_print_only:
        template = DEFAULT_NGC_JOB_TEMPLATE
    else:
        log.error("Pass --ngc_job_template=<file>: an `ngc batch run` command with {{ name }} and {{ experiment_cmd }}")
        return 1

    failed = 0
    experiments = run_description.generate_experiments(args.train_dir, args.experiment_suffix)
    for i, exp in enumerate(experiments):
        env_prefix = " ".join(f"{k}={v}" for k, v in exp.env_vars.items())
        job_cmd = ngc_job_command(template, exp.experiment_name, f"{env_prefix} {exp.cmd}".strip())
        if args.ngc_print_only:
            print(job_cmd)
            continue
        log.info("Launching %s: %s", exp.experiment_name, job_cmd)
        result = subprocess.run(job_cmd, shell=True, check=False)
        if result.returncode != 0:
            log.error("NGC job command for %s failed with exit code %d", exp.experiment_name, result.returncode)
            failed += 1
        if i + 1 < len(experiments):
            time.sleep(args.pause_between)
    return 1 if failed else 0
