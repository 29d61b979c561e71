"""The experiment launcher: parameter grids/lists, short names, generated command lines, the slurm/ngc print modes,
and a processes-backend run of two tiny CartPole trainings."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from sample_factory.launcher import run as launcher_run
from sample_factory.launcher.launcher_utils import seeds
from sample_factory.launcher.run_description import (
    Experiment,
    ParamGrid,
    ParamList,
    RunDescription,
    short_param_name,
    short_param_names,
)
from sample_factory.launcher.run_processes import _pick_gpu, _Running, experiment_argv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_seeds():
    assert seeds(3) == [1111, 2222, 3333]
    assert seeds(0) == []
    assert len(set(seeds(20))) == 20


def test_param_grid_is_a_cartesian_product_in_insertion_order():
    grid = ParamGrid([("a", [1, 2]), ("b", ["x", "y", "z"])])
    assert list(grid.generate_params(randomize=False)) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 1, "b": "z"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 2, "b": "z"},
    ]
    shuffled = list(grid.generate_params(randomize=True))
    assert sorted(shuffled, key=lambda p: (p["a"], p["b"])) == list(grid.generate_params(randomize=False))


def test_param_grid_joint_params_change_together():
    grid = ParamGrid([("seed", [1, 2]), (("env", "lr"), (["pong", 0.1], ["breakout", 0.2]))])
    assert list(grid.generate_params(randomize=False)) == [
        {"seed": 1, "env": "pong", "lr": 0.1},
        {"seed": 1, "env": "breakout", "lr": 0.2},
        {"seed": 2, "env": "pong", "lr": 0.1},
        {"seed": 2, "env": "breakout", "lr": 0.2},
    ]
    with pytest.raises(ValueError, match="need 2 values"):
        ParamGrid([(("env", "lr"), (["pong"],))])


def test_param_list_keeps_all_combinations():
    combos = [{"a": i} for i in range(10)]
    plist = ParamList(combos)
    assert list(plist.generate_params(randomize=False)) == combos
    assert sorted(p["a"] for p in plist.generate_params()) == list(range(10))  # randomized, same set


def test_short_names():
    assert short_param_name("seed") == "see"
    assert short_param_name("env") == "env"
    assert short_param_name("learning_rate") == "lrat"
    assert short_param_name("a.b-cde_fgh") == "abcfgh"
    # "rollout" and "rollover" share 5 letters: lengthened to 6, for every name
    assert short_param_names(["rollout", "rollover", "seed"]) == {
        "rollout": "rollou",
        "rollover": "rollov",
        "seed": "seed",
    }
    # not separable by lengthening the last token: full names
    assert short_param_names(["ab_c", "ac_c"]) == {"ab_c": "ab_c", "ac_c": "ac_c"}


def test_generated_commands_and_names():
    grid = ParamGrid([("env", ["CartPole-v1"]), ("seed", [1111, 2222]), ("encoder_mlp_layers", [[64, 64]])])
    exp = Experiment("cp", "python -m sf_examples.train_gym_env --device=cpu", grid.generate_params(randomize=False))
    rd = RunDescription("my_run", [exp, Experiment("plain", "python x.py")])
    runs = rd.generate_experiments("/td")
    assert [r.experiment_name for r in runs] == [
        "00_cp_env_CartPole-v1_see_1111_emlay_64-64",
        "01_cp_env_CartPole-v1_see_2222_emlay_64-64",
        "00_plain",
    ]
    assert runs[0].cmd == (
        "python -m sf_examples.train_gym_env --device=cpu --env=CartPole-v1 --seed=1111 --encoder_mlp_layers 64 64 "
        "--experiment=00_cp_env_CartPole-v1_see_1111_emlay_64-64 --train_dir=/td/my_run/cp"
    )
    assert runs[2].cmd == "python x.py --experiment=00_plain --train_dir=/td/my_run/plain"
    assert runs[0].experiment_dir == "/td/my_run/cp" and runs[0].env_vars == {}
    with_suffix = rd.generate_experiments("/td", experiment_suffix="v2")
    assert with_suffix[0].cmd.endswith("--train_dir=/td/my_run/cp_v2")
    # the generator given to Experiment is read once: the commands can be generated again
    assert [r.cmd for r in rd.generate_experiments("/td")] == [r.cmd for r in runs]


def test_run_description_options():
    exp = Experiment("e", "run", ParamGrid([("x", ["a b", "c/d"])]), env_vars={"FOO": "1"})
    rd = RunDescription(
        "r", [exp], experiment_arg_name="--name", experiment_dir_arg_name=None, customize_experiment_name=False
    )
    runs = rd.generate_experiments("/td")
    assert [r.cmd for r in runs] == ["run --x='a b' --name=e", "run --x=c/d --name=e"]
    assert shlex.split(runs[0].cmd) == ["run", "--x=a b", "--name=e"]
    assert runs[0].env_vars == {"FOO": "1"}
    custom = RunDescription("r", [exp], param_prefix="-").generate_experiments("/td")
    assert custom[1].cmd.startswith("run -x=c/d --experiment=01_e_x_c_d ")  # "/" is not put in names


def test_experiment_argv_uses_this_python():
    assert experiment_argv("python -m a.b --x='1 2'") == [sys.executable, "-m", "a.b", "--x=1 2"]
    assert experiment_argv("./train.sh --y=1") == ["./train.sh", "--y=1"]


def test_gpu_assignment_picks_the_least_busy_gpu():
    running = [_Running(None, None, 0), _Running(None, None, 0), _Running(None, None, 1)]  # type: ignore[arg-type]
    assert _pick_gpu(running, num_gpus=2, experiments_per_gpu=2) == 1
    assert _pick_gpu(running, num_gpus=3, experiments_per_gpu=2) == 2
    running.append(_Running(None, None, 1))  # type: ignore[arg-type]
    assert _pick_gpu(running, num_gpus=2, experiments_per_gpu=2) is None  # all full: wait


def _write_run_module(tmp_path, name: str, cmd: str, seeds_list: list[int]) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(
        textwrap.dedent(
            f"""
            from sample_factory.launcher.run_description import Experiment, ParamGrid, RunDescription
            RUN_DESCRIPTION = RunDescription(
                "{name}", [Experiment("exp", {cmd!r}, ParamGrid([("seed", {seeds_list!r})]).generate_params())]
            )
            """
        )
    )
    return str(path)


def test_slurm_print_only_writes_scripts(tmp_path, capsys):
    run_file = _write_run_module(tmp_path, "slurm_run", "python -m sf_examples.train_gym_env --env=CartPole-v1", [1, 2])
    workdir = tmp_path / "slurm"
    argv = [f"--run={run_file}", "--backend=slurm", "--slurm_print_only=True", f"--train_dir={tmp_path / 'td'}"]
    argv += [f"--slurm_workdir={workdir}", "--slurm_partition=gpu", "--slurm_gpus_per_job=2", "--slurm_timeout=1:00:00"]
    assert launcher_run.main(argv) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("sbatch")]
    assert len(lines) == 2
    script = workdir / "sbatch_00_exp_see_1.sh"
    assert shlex.split(lines[0]) == [
        "sbatch", "-p", "gpu", "--gres=gpu:2", "-c", "28", "--parsable",
        "--output", str(workdir / "00_exp_see_1-slurm-%j.out"), "--time=1:00:00", str(script),
    ]  # fmt: skip
    text = script.read_text()
    assert text.startswith("#!/bin/bash")
    assert f"--seed=1 --experiment=00_exp_see_1 --train_dir={tmp_path / 'td'}/slurm_run/exp" in text


def test_slurm_custom_template(tmp_path, capsys):
    run_file = _write_run_module(tmp_path, "tmpl_run", "python t.py", [7])
    template = tmp_path / "template.sh"
    template.write_text("#!/bin/bash\n# $PARTITION $GPU $CPU $TIMEOUT\necho $$SLURM_JOB_ID $FILENAME\n$CMD\n")
    argv = [f"--run={run_file}", "--backend=slurm", "--slurm_print_only=True", f"--slurm_workdir={tmp_path}"]
    assert launcher_run.main([*argv, f"--slurm_sbatch_template={template}", "--slurm_cpus_per_gpu=4"]) == 0
    script = tmp_path / "sbatch_00_exp_see_7.sh"
    lines = script.read_text().splitlines()
    assert lines[1] == "#  1 4 0"
    assert lines[2] == f"echo $SLURM_JOB_ID {script}"
    assert lines[3].startswith("python t.py --seed=7 --experiment=00_exp_see_7")


def test_slurm_bundled_timeout_template_by_name(tmp_path, capsys):
    run_file = _write_run_module(tmp_path, "to_run", "python t.py", [3])
    argv = [f"--run={run_file}", "--backend=slurm", "--slurm_print_only=True", f"--slurm_workdir={tmp_path}"]
    assert launcher_run.main([*argv, "--slurm_sbatch_template=sbatch_timeout.sh", "--slurm_timeout=2:00:00"]) == 0
    script = tmp_path / "sbatch_00_exp_see_3.sh"
    text = script.read_text()
    assert text.startswith("#!/bin/bash\n#SBATCH --requeue\n") and "#SBATCH --signal=B:USR1@300" in text
    assert f"# {script}\n" in text and "time limit '2:00:00'" in text
    assert 'scontrol requeue "${SLURM_JOB_ID}"' in text  # bash variables survive the substitution
    assert "\npython t.py --seed=3 --experiment=00_exp_see_3" in text and "$CMD" not in text


def test_slurm_missing_template_is_a_clear_error(tmp_path, caplog):
    from sample_factory.utils.utils import log

    run_file = _write_run_module(tmp_path, "bad_run", "python t.py", [1])
    workdir = tmp_path / "never_made"
    argv = [f"--run={run_file}", "--backend=slurm", "--slurm_print_only=True", f"--slurm_workdir={workdir}"]
    log.addHandler(caplog.handler)  # our logger does not propagate to the root logger caplog listens on
    try:
        assert launcher_run.main([*argv, "--slurm_sbatch_template=nope.sh"]) == 1
    finally:
        log.removeHandler(caplog.handler)
    assert "--slurm_sbatch_template=nope.sh: no such file" in caplog.text and "sbatch_timeout.sh" in caplog.text
    assert not workdir.exists()


_FAKE_TRAINING = textwrap.dedent(
    """
    import os, signal, sys, time
    out = sys.argv[1]
    def on_term(*_):
        open(out, "a").write("checkpoint saved " + os.environ.get("SF_TEST_VAR", "") + "\\n")
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    open(out, "a").write("started\\n")
    if len(sys.argv) > 2:
        sys.exit(int(sys.argv[2]))
    time.sleep(30)
    open(out, "a").write("ran to the end\\n")
    """
)


def _timeout_job(tmp_path, exit_code=None):
    """The bundled sbatch_timeout.sh rendered for a fake training, a fake `scontrol` on PATH, and the job started."""
    from sample_factory.launcher.run_description import GeneratedExperiment
    from sample_factory.launcher.run_slurm import resolve_template, sbatch_script

    (tmp_path / "train.py").write_text(_FAKE_TRAINING)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f'#!/bin/bash\necho "$@" >> {tmp_path / "scontrol.txt"}\n')
    (bin_dir / "scontrol").chmod(0o755)
    cmd = f"{sys.executable} {tmp_path / 'train.py'} {tmp_path / 'train.txt'}" + (
        "" if exit_code is None else f" {exit_code}"
    )
    exp = GeneratedExperiment(cmd, "exp", str(tmp_path), {"SF_TEST_VAR": "exported"})
    args = launcher_run.launcher_argparser().parse_args(["--run=x", "--backend=slurm"])
    with open(resolve_template("sbatch_timeout.sh")) as f:
        script = sbatch_script(f.read(), exp, str(tmp_path / "job.sh"), args)
    (tmp_path / "job.sh").write_text(script)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "4242"}
    return subprocess.Popen(["bash", str(tmp_path / "job.sh")], env=env)


def _wait_for(path, text, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return True
        time.sleep(0.05)
    return False


def test_sbatch_timeout_template_stops_the_training_and_requeues_on_usr1(tmp_path):
    job = _timeout_job(tmp_path)
    try:
        assert _wait_for(tmp_path / "train.txt", "started")
        job.send_signal(signal.SIGUSR1)  # what Slurm sends 300 s before the time limit
        assert job.wait(timeout=20) == 0
    finally:
        job.kill()
    assert (tmp_path / "train.txt").read_text() == "started\ncheckpoint saved exported\n"
    assert (tmp_path / "scontrol.txt").read_text() == "requeue 4242\n"


def test_sbatch_timeout_template_passes_the_training_exit_code_without_requeue(tmp_path):
    job = _timeout_job(tmp_path, exit_code=3)
    assert job.wait(timeout=20) == 3
    assert (tmp_path / "train.txt").read_text() == "started\n"
    assert not (tmp_path / "scontrol.txt").exists()


def test_ngc_print_only(tmp_path, capsys):
    run_file = _write_run_module(tmp_path, "ngc_run", "python t.py", [1])
    template = tmp_path / "ngc.txt"
    template.write_text('ngc batch run --name "{{ name }}" --image img --commandline "{{experiment_cmd}}"\n')
    argv = [f"--run={run_file}", "--backend=ngc", "--ngc_print_only=True", f"--ngc_job_template={template}"]
    assert launcher_run.main([*argv, "--train_dir=/td"]) == 0
    assert capsys.readouterr().out.strip() == (
        'ngc batch run --name "00_exp_see_1" --image img --commandline '
        '"python t.py --seed=1 --experiment=00_exp_see_1 --train_dir=/td/ngc_run/exp"'
    )


def test_bad_run_module(tmp_path):
    assert launcher_run.main(["--run=no_such_module_xyz"]) == 1
    bad = tmp_path / "bad.py"
    bad.write_text("RUN_DESCRIPTION = 42\n")
    assert launcher_run.main([f"--run={bad}"]) == 1


def test_example_run_description():
    from sf_examples.experiments.cartpole_seeds import RUN_DESCRIPTION

    runs = RUN_DESCRIPTION.generate_experiments("./train_dir")
    assert [r.experiment_name for r in runs] == [f"{i:02d}_cartpole_see_{s}" for i, s in enumerate(seeds(4))]
    assert all(
        "--env=CartPole-v1" in r.cmd and "--train_dir=./train_dir/cartpole_seeds/cartpole" in r.cmd for r in runs
    )


@pytest.mark.slow
def test_processes_backend_runs_two_cartpole_trainings(tmp_path):
    cmd = (
        "python -m sf_examples.train_gym_env --env=CartPole-v1 --device=cpu --train_for_env_steps=2000 "
        "--serial_mode=True --use_rnn=False --num_workers=1"
    )
    run_file = _write_run_module(tmp_path, "cp_run", cmd, [1111, 2222])
    td = tmp_path / "td"
    argv = [sys.executable, "-m", "sample_factory.launcher.run", f"--run={run_file}", "--backend=processes"]
    argv += ["--max_parallel=2", "--pause_between=1", "--experiments_per_gpu=-1", "--num_gpus=1", f"--train_dir={td}"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "0 failed" in out
    for name in ("00_exp_see_1111", "01_exp_see_2222"):
        exp_dir = td / "cp_run" / "exp" / name
        assert (exp_dir / "config.json").is_file(), out[-3000:]
        assert list((exp_dir / "checkpoint_p0").glob("checkpoint_*.pth")), out[-3000:]


def test_processes_backend_reports_failures(tmp_path):
    cmd = "python -c 'import sys; sys.exit(3)'"
    run_file = _write_run_module(tmp_path, "fail_run", cmd, [1, 2])
    argv = [f"--run={run_file}", "--backend=processes", "--pause_between=0", f"--train_dir={tmp_path}"]
    assert launcher_run.main(argv) == 1


_SLEEPER = (
    "python -c \"import os, sys, time; a = dict(x.split('=', 1) for x in sys.argv[1:]); "
    "os.makedirs(a['--train_dir'], exist_ok=True); "
    "open(os.path.join(a['--train_dir'], a['--experiment'] + '.pid'), 'w').write(str(os.getpid())); time.sleep(60)\""
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_processes_backend_stops_experiments_on_signals(tmp_path, sig):
    run_file = _write_run_module(tmp_path, "sleep_run", _SLEEPER, [1, 2])
    td = tmp_path / "td"
    argv = [sys.executable, "-m", "sample_factory.launcher.run", f"--run={run_file}", "--pause_between=0"]
    proc = subprocess.Popen(
        [*argv, f"--train_dir={td}"], cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    pid_files = [td / "sleep_run" / "exp" / f"{name}.pid" for name in ("00_exp_see_1", "01_exp_see_2")]
    deadline = time.time() + 30
    while not all(f.is_file() and f.read_text() for f in pid_files):
        assert time.time() < deadline and proc.poll() is None, "the experiments did not start"
        time.sleep(0.1)
    child_pids = [int(f.read_text()) for f in pid_files]
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl+C in a terminal: the whole process group
    else:
        proc.send_signal(sig)  # `kill <launcher>`: the launcher stops its experiments itself
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    assert ("Interrupted" if sig == signal.SIGINT else "Terminated") in out
    assert not any(_alive(p) for p in child_pids)
