"""Unit tests of the configuration system: parameters, parsing, validation and the experiment folder lifecycle."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import subprocess

import pytest

from sample_factory.cfg import arguments, experiment, verify
from sample_factory.cfg.arguments import (
    build_parser,
    cfg_dict,
    checkpoint_override_defaults,
    default_cfg,
    load_from_checkpoint,
    maybe_load_from_checkpoint,
    parameter_table_markdown,
    parse_full_cfg,
    parse_sf_args,
    preprocess_cfg,
)
from sample_factory.cfg.experiment import (
    data_regime,
    describe_config,
    prepare_experiment,
    resolve_device,
    restart_dir_name,
    save_config,
    value_sources,
)
from sample_factory.cfg.verify import ConfigError, config_errors, config_warnings, expected_policy_lag, verify_cfg
from sample_factory.utils.utils import log, str2bool

# The documented parameter list (interface.md section 1.2): name -> (type, default, choices).
# Types: int, float, str, bool (str2bool), flag (store_true), "int*"/"str*" (nargs="*").
CWD_DEPENDENT = object()
DOCUMENTED: dict[str, dict[str, tuple]] = {
    "basic": {
        "help": ("flag", False, None),
        "algo": ("str", "APPO", None),
        "env": ("str", None, None),
        "experiment": ("str", "default_experiment", None),
        "train_dir": ("str", CWD_DEPENDENT, None),
        "restart_behavior": ("str", "resume", ("resume", "restart", "overwrite")),
        "device": ("str", "gpu", ("gpu", "cpu")),
        "seed": ("int", None, None),
    },
    "rl": {
        "num_policies": ("int", 1, None),
        "async_rl": ("bool", True, None),
        "serial_mode": ("bool", False, None),
        "batched_sampling": ("bool", False, None),
        "num_batches_to_accumulate": ("int", 2, None),
        "worker_num_splits": ("int", 2, None),
        "policy_workers_per_policy": ("int", 1, None),
        "max_policy_lag": ("int", 1000, None),
        "num_workers": ("int", CWD_DEPENDENT, None),
        "num_envs_per_worker": ("int", 2, None),
        "batch_size": ("int", 1024, None),
        "num_batches_per_epoch": ("int", 1, None),
        "num_epochs": ("int", 1, None),
        "rollout": ("int", 32, None),
        "recurrence": ("int", -1, None),
        "shuffle_minibatches": ("bool", False, None),
        "gamma": ("float", 0.99, None),
        "reward_scale": ("float", 1.0, None),
        "reward_clip": ("float", 1000.0, None),
        "value_bootstrap": ("bool", False, None),
        "normalize_returns": ("bool", True, None),
        "exploration_loss_coeff": ("float", 0.003, None),
        "value_loss_coeff": ("float", 0.5, None),
        "kl_loss_coeff": ("float", 0.0, None),
        "exploration_loss": ("str", "entropy", ("entropy", "symmetric_kl")),
        "gae_lambda": ("float", 0.95, None),
        "ppo_clip_ratio": ("float", 0.1, None),
        "ppo_clip_value": ("float", 1.0, None),
        "with_vtrace": ("bool", False, None),
        "vtrace_rho": ("float", 1.0, None),
        "vtrace_c": ("float", 1.0, None),
        "optimizer": ("str", "adam", ("adam", "lamb")),
        "adam_eps": ("float", 1e-6, None),
        "adam_beta1": ("float", 0.9, None),
        "adam_beta2": ("float", 0.999, None),
        "max_grad_norm": ("float", 4.0, None),
        "learning_rate": ("float", 1e-4, None),
        # linear_decay is documented as reachable only via set_defaults upstream; we accept it on the CLI too
        "lr_schedule": (
            "str",
            "constant",
            ("constant", "kl_adaptive_minibatch", "kl_adaptive_epoch", "linear_decay"),
        ),
        "lr_schedule_kl_threshold": ("float", 0.008, None),
        "lr_adaptive_min": ("float", 1e-6, None),
        "lr_adaptive_max": ("float", 1e-2, None),
        "obs_subtract_mean": ("float", 0.0, None),
        "obs_scale": ("float", 1.0, None),
        "normalize_input": ("bool", True, None),
        "normalize_input_keys": ("str*", None, None),
        "decorrelate_experience_max_seconds": ("int", 0, None),
        "decorrelate_envs_on_one_worker": ("bool", True, None),
        "actor_worker_gpus": ("int*", [], None),
        "set_workers_cpu_affinity": ("bool", True, None),
        "force_envs_single_thread": ("bool", False, None),
        "default_niceness": ("int", 0, None),
        "log_to_file": ("bool", True, None),
        "experiment_summaries_interval": ("int", 10, None),
        "flush_summaries_interval": ("int", 30, None),
        "stats_avg": ("int", 100, None),
        "summaries_use_frameskip": ("bool", True, None),
        "heartbeat_interval": ("int", 20, None),
        "heartbeat_reporting_interval": ("int", 180, None),
        "train_for_env_steps": ("int", 10_000_000_000, None),
        "train_for_seconds": ("int", 10_000_000_000, None),
        "save_every_sec": ("int", 120, None),
        "keep_checkpoints": ("int", 2, None),
        "load_checkpoint_kind": ("str", "latest", ("latest", "best")),
        "save_milestones_sec": ("int", -1, None),
        "save_best_every_sec": ("int", 5, None),
        "save_best_metric": ("str", "reward", None),
        "save_best_after": ("int", 100000, None),
        "benchmark": ("bool", False, None),
    },
    "model": {
        "encoder_mlp_layers": ("int*", [512, 512], None),
        "encoder_conv_architecture": (
            "str",
            "convnet_simple",
            ("convnet_simple", "convnet_impala", "convnet_atari", "resnet_impala"),
        ),
        "encoder_conv_mlp_layers": ("int*", [512], None),
        "use_rnn": ("bool", True, None),
        "rnn_size": ("int", 512, None),
        "rnn_type": ("str", "gru", ("gru", "lstm")),
        "rnn_num_layers": ("int", 1, None),
        "decoder_mlp_layers": ("int*", [], None),
        "nonlinearity": ("str", "elu", ("elu", "relu", "tanh")),
        "policy_initialization": ("str", "orthogonal", ("orthogonal", "xavier_uniform", "torch_default")),
        "policy_init_gain": ("float", 1.0, None),
        "actor_critic_share_weights": ("bool", True, None),
        "adaptive_stddev": ("bool", True, None),
        "continuous_tanh_scale": ("float", 0.0, None),
        "initial_stddev": ("float", 1.0, None),
    },
    "env": {
        "use_env_info_cache": ("bool", False, None),
        "env_gpu_actions": ("bool", False, None),
        "env_gpu_observations": ("bool", True, None),
        "env_frameskip": ("int", 1, None),
        "env_framestack": ("int", 1, None),
        "pixel_format": ("str", "CHW", None),
        "use_record_episode_statistics": ("bool", False, None),
        "episode_counter": ("bool", False, None),
    },
    "wandb": {
        "with_wandb": ("bool", False, None),
        "wandb_user": ("str", None, None),
        "wandb_project": ("str", "sample_factory", None),
        "wandb_group": ("str", None, None),
        "wandb_job_type": ("str", "SF", None),
        "wandb_tags": ("str*", [], None),
        "wandb_dir": ("str", CWD_DEPENDENT, None),
    },
    "pbt": {
        "with_pbt": ("bool", False, None),
        "pbt_mix_policies_in_one_env": ("bool", True, None),
        "pbt_period_env_steps": ("int", 5_000_000, None),
        "pbt_start_mutation": ("int", 20_000_000, None),
        "pbt_replace_fraction": ("float", 0.3, None),
        "pbt_mutation_rate": ("float", 0.15, None),
        "pbt_replace_reward_gap": ("float", 0.1, None),
        "pbt_replace_reward_gap_absolute": ("float", 1e-6, None),
        "pbt_optimize_gamma": ("bool", False, None),
        "pbt_target_objective": ("str", "true_objective", None),
        "pbt_perturb_min": ("float", 1.1, None),
        "pbt_perturb_max": ("float", 1.5, None),
    },
    "eval": {
        "fps": ("int", 0, None),
        "eval_env_frameskip": ("int", None, None),
        "no_render": ("flag", False, None),
        "save_video": ("flag", False, None),
        "video_frames": ("int", 1_000_000_000, None),
        "video_name": ("str", None, None),
        "max_num_frames": ("int", 1_000_000_000, None),
        "max_num_episodes": ("int", 1_000_000_000, None),
        "push_to_hub": ("flag", False, None),
        "hf_repository": ("str", None, None),
        "policy_index": ("int", 0, None),
        "eval_deterministic": ("bool", False, None),
        "train_script": ("str", None, None),
        "enjoy_script": ("str", None, None),
        "sample_env_episodes": ("int", 256, None),
        "csv_folder_name": ("str", None, None),
    },
}
GROUP_SIZES = {"basic": 8, "rl": 68, "model": 15, "env": 8, "wandb": 7, "pbt": 12, "eval": 16}
ALL_DOCUMENTED = {name: spec for group in DOCUMENTED.values() for name, spec in group.items()}
TRAIN_DOCUMENTED = {n: s for g, group in DOCUMENTED.items() if g != "eval" for n, s in group.items()}
ENV = "CartPole-v1"  # a gymnasium id: valid for --env without registration


@pytest.fixture(autouse=True)
def _no_leaked_log_files():
    before = set(log.handlers)
    yield
    for h in set(log.handlers) - before:
        log.removeHandler(h)
        h.close()


def parse(argv: list[str], evaluation: bool = False, hook=None) -> argparse.Namespace:
    parser, partial = parse_sf_args(argv, evaluation)
    if hook is not None:
        hook(parser, partial)
    return parse_full_cfg(parser, argv)


def exp_argv(tmp_path, *extra: str) -> list[str]:
    return [f"--env={ENV}", f"--train_dir={tmp_path}", "--experiment=exp", "--device=cpu", *extra]


def tree_digest(path) -> dict[str, str]:
    """Relative path -> sha256 of every file under path (directories included as markers)."""
    digest = {}
    for root, dirs, files in os.walk(path):
        for d in dirs:
            digest[os.path.relpath(os.path.join(root, d), path) + "/"] = "dir"
        for f in files:
            full = os.path.join(root, f)
            with open(full, "rb") as fh:
                digest[os.path.relpath(full, path)] = hashlib.sha256(fh.read()).hexdigest()
    return digest


# ---------------------------------------------------------------- parameters


def test_documented_group_sizes():
    assert {g: len(v) for g, v in DOCUMENTED.items()} == GROUP_SIZES
    assert len(ALL_DOCUMENTED) == 134  # 133 named parameters plus -h/--help


def _type_name(action: argparse.Action) -> str:
    if isinstance(action, argparse._StoreTrueAction):
        return "flag"
    name = "bool" if action.type is str2bool else action.type.__name__
    return name + "*" if action.nargs == "*" else name


@pytest.mark.parametrize("evaluation", [False, True])
def test_every_documented_parameter_with_type_default_choices(evaluation):
    parser = build_parser(evaluation)
    actions = {a.dest: a for a in parser._actions}
    expected = ALL_DOCUMENTED if evaluation else TRAIN_DOCUMENTED
    assert set(actions) == set(expected)
    for name, (typ, default, choices) in expected.items():
        a = actions[name]
        assert f"--{name}" in a.option_strings
        assert _type_name(a) == typ, name
        if default is not CWD_DEPENDENT:
            assert a.default == default and type(a.default) is type(default), name
        assert (tuple(a.choices) if a.choices else None) == choices, name
        assert a.help and len(a.help) > 10, f"{name} needs a help string"
    assert "-h" in actions["help"].option_strings
    assert actions["env"].required


def test_environment_dependent_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = default_cfg()
    assert cfg.train_dir == os.path.join(str(tmp_path), "train_dir")
    assert cfg.wandb_dir == os.path.join(str(tmp_path), "wandb")
    assert cfg.num_workers == multiprocessing.cpu_count()


def test_group_order_in_help():
    titles = [g.title for g in build_parser(evaluation=True)._action_groups if g._group_actions]
    assert titles[0] == "basic"
    assert titles[-1] == "evaluation"
    assert titles.index("model") < titles.index("environment") < titles.index("Weights and Biases")
    assert titles.index("Weights and Biases") < titles.index("population-based training")


def test_num_envs_per_worker_help_explains_constraint_and_tradeoff():
    action = next(a for a in build_parser()._actions if a.dest == "num_envs_per_worker")
    assert "divisible by worker_num_splits" in action.help
    assert "policy lag" in action.help


# ---------------------------------------------------------------- parsing


def test_default_cfg():
    cfg = default_cfg(algo="APPO", env="my_env", experiment="e1")
    assert (cfg.env, cfg.experiment, cfg.algo) == ("my_env", "e1", "APPO")
    assert cfg.cli_args == {"algo": "APPO", "env": "my_env", "experiment": "e1"}
    assert cfg.command_line == "--algo=APPO --env=my_env --experiment=e1"
    assert isinstance(cfg.git_hash, str) and isinstance(cfg.git_repo_name, str)
    assert cfg.help is False


def test_bool_list_and_linear_decay_parsing():
    cfg = parse(
        [
            "--env=e",
            "--use_rnn=false",
            "--async_rl=TRUE",
            "--encoder_mlp_layers",
            "256",
            "128",
            "--normalize_input_keys",
            "obs",
            "--decoder_mlp_layers",
            "--lr_schedule=linear_decay",
        ]
    )
    assert cfg.use_rnn is False and cfg.async_rl is True
    assert cfg.encoder_mlp_layers == [256, 128]
    assert cfg.normalize_input_keys == ["obs"]
    assert cfg.decoder_mlp_layers == []
    assert cfg.lr_schedule == "linear_decay"


def test_list_defaults_are_not_shared_between_configs():
    a, b = default_cfg(), default_cfg()
    a.encoder_mlp_layers.append(7)
    assert b.encoder_mlp_layers == [512, 512]
    assert default_cfg().encoder_mlp_layers == [512, 512]


@pytest.mark.parametrize("bad", ["--use_rnn=yes", "--use_rnn=1", "--num_workers=abc", "--device=tpu"])
def test_bad_values_exit_2_with_one_line(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(["--env=e", bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert bad.split("=")[0] in err


def test_str2bool_only_true_false():
    assert str2bool("True") is True and str2bool("fAlSe") is False
    with pytest.raises(argparse.ArgumentTypeError):
        str2bool("0")


def test_unknown_parameter_names_closest(capsys):
    with pytest.raises(SystemExit) as exc:
        parse(["--env=e", "--lerning_rate=0.1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--lerning_rate" in err and "did you mean --learning_rate?" in err


def test_unknown_parameter_with_separate_value(capsys):
    with pytest.raises(SystemExit):
        parse(["--env=e", "--num_worker", "4"])
    assert "did you mean --num_workers?" in capsys.readouterr().err


def test_no_abbreviations():
    """`--learning` must not silently mean --learning_rate (it could be a not-yet-added env parameter)."""
    with pytest.raises(SystemExit):
        parse(["--env=e", "--learning=0.1"])


def test_missing_env_is_one_line_error(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_sf_args(["--num_workers=2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--env is required" in err


def test_cli_args_include_values_equal_to_default():
    cfg = parse(["--env=e", "--batch_size=1024", "--use_rnn", "True", "--encoder_mlp_layers", "512", "512"])
    assert cfg.cli_args == {"env": "e", "batch_size": 1024, "use_rnn": True, "encoder_mlp_layers": [512, 512]}
    assert "num_workers" not in cfg.cli_args


def test_env_specific_args_and_overridden_defaults(capsys):
    def hook(parser, partial):
        assert partial.env == "my_env"
        parser.add_argument("--my_env_size", type=int, default=5, help="size of my env")
        parser.set_defaults(num_envs_per_worker=8, rollout=64)

    argv = ["--env=my_env", "--my_env_size=7", "--rollout=16"]
    cfg = parse(argv, hook=hook)
    assert (cfg.my_env_size, cfg.num_envs_per_worker, cfg.rollout) == (7, 8, 16)
    assert cfg.cli_args == {"env": "my_env", "my_env_size": 7, "rollout": 16}

    with pytest.raises(SystemExit) as exc:
        parse(["--env=my_env", "--help"], hook=hook)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--my_env_size" in out and "size of my env" in out
    flat = " ".join(out.split())
    assert "num_envs_per_worker NUM_ENVS_PER_WORKER" in flat
    assert "(default: 8)" in flat and "(default: 64)" in flat


def test_parse_sf_args_does_not_exit_on_help_with_env():
    parser, partial = parse_sf_args(["--env=e", "--help"])
    assert partial.help is True  # the env script can still add its parameters


def test_help_without_env_prints_generic_help(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_sf_args(["--help"])
    assert exc.value.code == 0
    assert "--num_envs_per_worker" in capsys.readouterr().out


def test_eval_args_only_for_evaluation():
    assert not hasattr(parse(["--env=e"]), "policy_index")
    cfg = parse(["--env=e", "--no_render", "--policy_index=0"], evaluation=True)
    assert cfg.no_render is True and cfg.save_video is False
    assert cfg.cli_args == {"env": "e", "no_render": True, "policy_index": 0}


def test_preprocess_cfg_recurrence():
    cfg = default_cfg()
    cfg.rollout = 16
    assert preprocess_cfg(cfg).recurrence == 16  # use_rnn=True by default
    cfg = default_cfg()
    cfg.use_rnn = False
    assert preprocess_cfg(cfg).recurrence == 1
    cfg = default_cfg()
    cfg.recurrence = 8
    assert preprocess_cfg(cfg).recurrence == 8


def test_cfg_dict_and_str():
    cfg = default_cfg()
    d = cfg_dict(cfg)
    assert d["batch_size"] == 1024
    assert cfg_dict(arguments.AttrDict(d)) == d
    assert "batch_size=1024" in arguments.cfg_str(cfg).splitlines()


def test_parameter_table_markdown_lists_everything():
    table = parameter_table_markdown()
    for name in ALL_DOCUMENTED:
        assert f"`--{name}`" in table, name
    assert "| `--num_workers` | int | number of logical cores |" in table


# ---------------------------------------------------------------- validation


def cfg_with(**overrides) -> argparse.Namespace:
    cfg = default_cfg(env=ENV)
    cfg.num_workers = 4
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            dict(num_envs_per_worker=3, worker_num_splits=2),
            "--num_envs_per_worker=3 must be divisible by --worker_num_splits=2: use an even number, "
            "or --worker_num_splits=1",
        ),
        (dict(num_envs_per_worker=4, worker_num_splits=3), "use a multiple of 3, or --worker_num_splits=1"),
        (
            dict(with_vtrace=True, recurrence=32),
            "--normalize_returns=True is incompatible with --with_vtrace=True",
        ),
        (
            dict(with_vtrace=True, normalize_returns=False, use_rnn=False),
            "--with_vtrace=True needs --recurrence equal to --rollout=32 (V-trace corrects whole trajectories), "
            "got recurrence=1 (resolved from -1 because --use_rnn=False): pass --recurrence=32",
        ),
        (dict(with_vtrace=True, normalize_returns=False, recurrence=16), "got recurrence=16"),
        (dict(use_rnn=True, recurrence=1), "--use_rnn=True needs --recurrence > 1"),
        (dict(use_rnn=True, rollout=1, batch_size=1024), "got recurrence=1 (resolved from -1 because --use_rnn=True)"),
        (
            dict(async_rl=False, num_workers=3, num_envs_per_worker=2, rollout=32, batch_size=1024),
            "sync mode (--async_rl=False): --batch_size=1024 * --num_batches_per_epoch=1 = 1024 must be a positive "
            "multiple of the samples collected per iteration --num_workers=3 * --num_envs_per_worker=2 * "
            "--rollout=32 = 192: e.g. --batch_size=1152, or --async_rl=True",
        ),
        (
            dict(async_rl=False, num_workers=4, num_envs_per_worker=2, rollout=32, batch_size=128, num_policies=2),
            "--rollout=32 / --num_policies=2 = 128",  # ok: 128 divides 128 -> no error; see below
        ),
        (dict(async_rl=False, num_workers=3, num_envs_per_worker=1, worker_num_splits=1, num_policies=2), "envs"),
        (dict(batch_size=100, rollout=32), "= 100 transitions per dataset must be divisible by --rollout=32"),
        (dict(rollout=24, recurrence=16, use_rnn=True), "--recurrence=16 must divide --rollout=24"),
        (dict(rollout=32, batch_size=96, recurrence=64), "--recurrence=64 must divide --rollout=32"),
        (dict(batch_size=0), "--batch_size=0 must be >= 1"),
        (dict(rollout=0), "--rollout=0 must be >= 1"),
        (dict(num_workers=0), "--num_workers=0 must be >= 1"),
        (dict(num_envs_per_worker=0), "--num_envs_per_worker=0 must be >= 1"),
        (dict(num_epochs=0), "--num_epochs=0 must be >= 1"),
        (dict(num_batches_per_epoch=-1), "--num_batches_per_epoch=-1 must be >= 1"),
        (dict(num_policies=0), "--num_policies=0 must be >= 1"),
        (dict(worker_num_splits=0), "--worker_num_splits=0 must be >= 1"),
        (dict(gamma=1.5), "--gamma=1.5 must be in [0, 1]"),
        (dict(gae_lambda=-0.1), "--gae_lambda=-0.1 must be in [0, 1]"),
        (dict(ppo_clip_ratio=0.0), "--ppo_clip_ratio=0.0 must be > 0"),
        (dict(learning_rate=-1e-4), "--learning_rate=-0.0001 must be > 0"),
        (dict(reward_scale=0.0), "--reward_scale=0.0 must be > 0"),
        (dict(adam_beta1=1.0), "--adam_beta1=1.0 must be in [0, 1)"),
        (dict(max_grad_norm=-1.0), "--max_grad_norm=-1.0 must be >= 0"),
        (dict(exploration_loss_coeff=-0.1), "--exploration_loss_coeff=-0.1 must be >= 0"),
        (dict(lr_adaptive_min=0.1, lr_adaptive_max=0.01), "--lr_adaptive_min=0.1 must be <= --lr_adaptive_max=0.01"),
        (dict(recurrence=-5), "--recurrence=-5 must be -1 (automatic) or >= 1"),
        (dict(pbt_replace_fraction=1.5), "--pbt_replace_fraction=1.5 must be a fraction in [0, 1]"),
        (dict(pbt_perturb_min=2.0, pbt_perturb_max=1.5), "--pbt_perturb_min=2.0 must be > 0 and <="),
        (dict(with_pbt=True), "--with_pbt=True needs --num_policies >= 2"),
        (dict(device="tpu"), "--device=tpu is not one of gpu, cpu"),
        (dict(rnn_type="rnn"), "--rnn_type=rnn is not one of gru, lstm"),
        (dict(default_niceness=30), "--default_niceness=30 must be in [-20, 20]"),
        (dict(actor_worker_gpus=[-1]), "GPU indices must be >= 0"),
    ],
)
def test_validation_errors(overrides, expected):
    cfg = cfg_with(**overrides)
    errors = config_errors(cfg)
    if overrides.get("num_policies") == 2 and overrides.get("batch_size") == 128:
        # 4 workers * 2 envs * 32 / 2 policies = 128 samples per policy: a valid sync configuration
        assert errors == []
        return
    assert any(expected in e for e in errors), errors
    assert all("\n" not in e for e in errors)
    assert not verify_cfg(cfg)
    with pytest.raises(ConfigError) as exc:
        raise ConfigError(errors)
    assert exc.value.errors == errors


def test_sync_mode_uses_num_agents():
    cfg = cfg_with(async_rl=False, num_workers=2, num_envs_per_worker=2, rollout=32, batch_size=128)
    assert config_errors(cfg) == []  # 2*2*32 = 128
    env_info = argparse.Namespace(num_agents=2)  # 256 samples per iteration
    errors = config_errors(cfg, env_info)
    assert len(errors) == 1
    assert "* 2 agents * --rollout=32 = 256: e.g. --batch_size=256" in errors[0]


def test_sync_suggestion_respects_num_batches_per_epoch():
    cfg = cfg_with(async_rl=False, num_workers=3, num_envs_per_worker=2, rollout=32, batch_size=64)
    cfg.num_batches_per_epoch = 4  # dataset 256, need multiple of 192 -> batch_size multiple of 48 (192/gcd(192,4))
    (err,) = config_errors(cfg)
    assert "e.g. --batch_size=96" in err
    cfg.batch_size = 96  # 96*4 = 384 = 2*192, and 384 % 32 == 0
    assert config_errors(cfg) == []


def test_defaults_are_valid_and_verify_cfg_true():
    assert config_errors(default_cfg(env=ENV)) == []
    assert verify_cfg(default_cfg(env=ENV)) is True


def test_unknown_env_lists_registered_names():
    from sample_factory.envs.env_utils import register_env

    register_env("my_registered_test_env", lambda *a: None)
    cfg = cfg_with(env="my_registred_test_env")
    assert config_errors(cfg) == []  # not checked unless asked (programmatic use before registration)
    (err,) = config_errors(cfg, check_env=True)
    assert "--env=my_registred_test_env is not a registered environment" in err
    assert "Did you mean --env=my_registered_test_env?" in err and "Registered:" in err


def test_warnings():
    cfg = cfg_with(async_rl=True, serial_mode=True, use_rnn=False, recurrence=4, num_policies=2, batched_sampling=True)
    text = "\n".join(config_warnings(cfg))
    assert "--async_rl=True with --serial_mode=True" in text
    assert "--num_policies=2 with --batched_sampling=True" in text
    assert "--recurrence=4 with --use_rnn=False" in text
    cfg = cfg_with(async_rl=False, num_policies=2)
    assert any("sync mode" in w for w in config_warnings(cfg))
    cfg = cfg_with(num_epochs=50, num_batches_per_epoch=50, max_policy_lag=100)
    assert any("--max_policy_lag=100" in w for w in config_warnings(cfg))
    assert config_warnings(default_cfg(env=ENV)) == [] or multiprocessing.cpu_count() == 0


# ---------------------------------------------------------------- data regime


def test_expected_policy_lag_hand_computed():
    # sync: E*B = 2*4 = 8 SGD steps per dataset: mean lag (8-1)/2 = 3.5
    cfg = cfg_with(async_rl=False, num_epochs=2, num_batches_per_epoch=4, batch_size=256)
    assert expected_policy_lag(cfg) == pytest.approx(3.5)
    # sync, one epoch of one minibatch: A2C-like, lag exactly 0
    assert expected_policy_lag(cfg_with(async_rl=False, num_epochs=1, num_batches_per_epoch=1)) == 0.0
    # async: S = 4*2*32 = 256, D = 256*4 = 1024, E=2, bs=256: 3.5 + 2*max(256,1024)/(2*256) = 3.5 + 4 = 7.5
    cfg.async_rl = True
    assert expected_policy_lag(cfg) == pytest.approx(7.5)
    # async, S >> D: S = 4*2*32*4 agents = 1024, D = 256: 0 + 1*1024/(2*256) = 2
    cfg = cfg_with(num_epochs=1, num_batches_per_epoch=1, batch_size=256)
    assert expected_policy_lag(cfg, num_agents=4) == pytest.approx(2.0)


def test_data_regime_numbers():
    cfg = cfg_with(num_workers=8, num_envs_per_worker=4, rollout=16, batch_size=512, num_batches_per_epoch=2)
    r = data_regime(cfg, num_agents=2)
    assert r["samples_collected_per_iteration"] == 8 * 4 * 16 * 2  # 1024
    assert r["samples_trained_per_iteration"] == 1024
    assert r["trajectories_per_dataset"] == 64
    assert r["collection_rounds_per_dataset"] == 1.0
    assert r["sgd_steps_per_dataset"] == 2
    text = "\n".join(describe_config(cfg, num_agents=2))
    assert "num_workers=8 * num_envs_per_worker=4 * rollout=16 * 2 agents = 1024" in text
    assert "batch_size=512 * num_batches_per_epoch=2 = 1024" in text
    assert "expected policy lag: ~" in text


# ---------------------------------------------------------------- experiment folder


def test_new_experiment_config_json(tmp_path):
    cfg = prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=512", "--log_to_file=False")))
    path = tmp_path / "exp" / "config.json"
    saved = json.loads(path.read_text())
    assert "help" not in saved
    for name in TRAIN_DOCUMENTED:
        if name != "help":
            assert name in saved, name
    assert saved["batch_size"] == 512 and saved["rollout"] == 32 and saved["gamma"] == 0.99
    assert saved["recurrence"] == 32  # resolved (use_rnn=True)
    assert saved["cli_args"]["batch_size"] == 512
    assert saved["command_line"].startswith("--env=CartPole-v1")
    for key in ("git_hash", "git_repo_name"):
        assert isinstance(saved[key], str)
    assert path.read_text().startswith('{\n  "')  # indent=2
    assert cfg.recurrence == 32
    assert not [p for p in os.listdir(tmp_path / "exp") if p.startswith(".config.json")]  # no temp file left


def test_save_config_is_atomic(tmp_path, monkeypatch):
    cfg = parse(exp_argv(tmp_path))
    save_config(cfg)
    before = (tmp_path / "exp" / "config.json").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(experiment.os, "replace", boom)
    cfg.batch_size = 7
    with pytest.raises(OSError):
        save_config(cfg)
    assert (tmp_path / "exp" / "config.json").read_bytes() == before
    assert os.listdir(tmp_path / "exp") == ["config.json"]


def test_resume_precedence_cli_saved_defaults(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=512", "--rollout=16", "--log_to_file=False")))
    path = tmp_path / "exp" / "config.json"
    saved = json.loads(path.read_text())
    del saved["gae_lambda"]  # a parameter that did not exist when the experiment was created
    saved["train_dir"] = "/somewhere/else"  # the folder was moved: the current location must win
    path.write_text(json.dumps(saved))

    def env_defaults(parser, partial):
        parser.set_defaults(batch_size=2048, learning_rate=3e-4)  # changed code/env defaults

    cfg2 = parse(exp_argv(tmp_path, "--rollout=8", "--log_to_file=False"), hook=env_defaults)
    resumed = prepare_experiment(cfg2)
    assert isinstance(resumed, argparse.Namespace)
    assert resumed.rollout == 8  # command line wins
    assert resumed.batch_size == 512  # saved beats the new default
    assert resumed.learning_rate == 1e-4  # saved beats the new default
    assert resumed.gae_lambda == 0.95  # new parameter: current default
    assert resumed.train_dir == str(tmp_path)
    assert resumed.recurrence == 8  # saved 16 was derived from -1 and rollout=16: derived again from rollout=8
    assert resumed.cli_args == {"env": ENV, "train_dir": str(tmp_path), "experiment": "exp", "device": "cpu",
                                "rollout": 8, "log_to_file": False}  # fmt: skip
    text = "\n".join(describe_config(resumed))
    assert "--rollout: 16 -> 8" in text
    assert "--recurrence: 16 -> 8" in text
    assert "--batch_size=512 (saved config.json)" in text
    assert "--rollout=8 (command line)" in text
    assert "gae_lambda" in text.split("Not in the saved config.json")[1]
    resaved = json.loads(path.read_text())
    assert resaved["rollout"] == 8 and resaved["batch_size"] == 512 and resaved["gae_lambda"] == 0.95


def test_resume_keeps_explicit_recurrence(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--rollout=16", "--recurrence=8", "--log_to_file=False")))
    resumed = prepare_experiment(parse(exp_argv(tmp_path, "--rollout=32", "--log_to_file=False")))
    assert (resumed.rollout, resumed.recurrence) == (32, 8)


def test_prepare_updates_the_callers_cfg_in_place(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=512", "--log_to_file=False")))
    cfg = parse(exp_argv(tmp_path, "--log_to_file=False"))
    returned = prepare_experiment(cfg)
    assert returned is cfg and cfg.batch_size == 512 and cfg.recurrence == 32


def test_plan_experiment_is_a_dry_run(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=512", "--log_to_file=False")))
    before = tree_digest(tmp_path)
    cfg = parse(exp_argv(tmp_path, "--rollout=16", "--restart_behavior=resume", "--log_to_file=False"))
    plan = experiment.plan_experiment(cfg)
    assert plan.action == "resume" and plan.cfg.batch_size == 512 and plan.cfg.rollout == 16
    assert cfg.batch_size == 1024  # the caller's cfg is untouched by planning
    cfg.restart_behavior = "overwrite"
    assert experiment.plan_experiment(cfg).action == "overwrite"
    assert tree_digest(tmp_path) == before


def test_resume_cli_value_equal_to_default_still_wins(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=512", "--log_to_file=False")))
    resumed = prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=1024", "--log_to_file=False")))
    assert resumed.batch_size == 1024


def test_resume_without_config_json_uses_current(tmp_path):
    (tmp_path / "exp").mkdir()
    cfg = prepare_experiment(parse(exp_argv(tmp_path, "--log_to_file=False")))
    assert cfg.batch_size == 1024
    assert (tmp_path / "exp" / "config.json").exists()


def test_legacy_cfg_json_is_renamed_on_resume(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=512", "--log_to_file=False")))
    os.rename(tmp_path / "exp" / "config.json", tmp_path / "exp" / "cfg.json")
    cfg = prepare_experiment(parse(exp_argv(tmp_path, "--log_to_file=False")))
    assert cfg.batch_size == 512
    assert not (tmp_path / "exp" / "cfg.json").exists() and (tmp_path / "exp" / "config.json").exists()


def test_corrupt_config_json_is_named_and_untouched(tmp_path):
    exp_dir = tmp_path / "exp"
    exp_dir.mkdir()
    corrupt = b'{"batch_size": 512,,,'
    (exp_dir / "config.json").write_bytes(corrupt)
    (exp_dir / "checkpoint_p0").mkdir()
    (exp_dir / "checkpoint_p0" / "checkpoint_000000001_32.pth").write_bytes(b"weights")
    before = tree_digest(exp_dir)
    with pytest.raises(ConfigError) as exc:
        prepare_experiment(parse(exp_argv(tmp_path, "--log_to_file=False")))
    assert str(exp_dir / "config.json") in str(exc.value)
    assert "left unchanged" in str(exc.value)
    assert (exp_dir / "config.json").read_bytes() == corrupt
    assert tree_digest(exp_dir) == before


def test_restart_numbering(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=512", "--log_to_file=False")))
    (tmp_path / "exp" / "marker").write_text("first")
    (tmp_path / "exp_old0001").mkdir()  # taken: the next free number is used
    assert restart_dir_name(str(tmp_path / "exp")) == str(tmp_path / "exp_old0002")
    cfg = prepare_experiment(parse(exp_argv(tmp_path, "--restart_behavior=restart", "--log_to_file=False")))
    assert (tmp_path / "exp_old0002" / "marker").read_text() == "first"
    assert not (tmp_path / "exp" / "marker").exists()
    assert cfg.batch_size == 1024  # fresh start: the old config is not merged
    assert json.loads((tmp_path / "exp" / "config.json").read_text())["batch_size"] == 1024
    prepare_experiment(parse(exp_argv(tmp_path, "--restart_behavior=restart", "--log_to_file=False")))
    assert (tmp_path / "exp_old0003" / "config.json").exists()


def test_overwrite_deletes_old_folder(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=512", "--log_to_file=False")))
    (tmp_path / "exp" / "marker").write_text("old")
    cfg = prepare_experiment(parse(exp_argv(tmp_path, "--restart_behavior=overwrite", "--log_to_file=False")))
    assert not (tmp_path / "exp" / "marker").exists()
    assert cfg.batch_size == 1024
    assert sorted(os.listdir(tmp_path)) == ["exp"]


@pytest.mark.parametrize("behavior", ["resume", "restart", "overwrite"])
def test_invalid_config_leaves_existing_experiment_untouched(tmp_path, behavior):
    prepare_experiment(parse(exp_argv(tmp_path, "--log_to_file=True")))
    log.handlers[-1].flush()
    before = tree_digest(tmp_path)
    with pytest.raises(ConfigError) as exc:
        prepare_experiment(parse(exp_argv(tmp_path, f"--restart_behavior={behavior}", "--num_envs_per_worker=3")))
    assert "--num_envs_per_worker=3 must be divisible by --worker_num_splits=2" in str(exc.value)
    assert tree_digest(tmp_path) == before


def test_invalid_config_creates_nothing(tmp_path):
    with pytest.raises(ConfigError):
        prepare_experiment(parse(exp_argv(tmp_path, "--gamma=2")))
    assert os.listdir(tmp_path) == []


def test_unknown_env_raises_before_writing(tmp_path):
    argv = [f"--train_dir={tmp_path}", "--experiment=exp", "--env=NoSuchEnv-v9", "--device=cpu"]
    with pytest.raises(ConfigError) as exc:
        prepare_experiment(parse(argv))
    assert "--env=NoSuchEnv-v9 is not a registered environment" in str(exc.value)
    assert os.listdir(tmp_path) == []


def test_log_file_written(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--log_to_file=True")))
    for h in log.handlers:
        h.flush()
    text = (tmp_path / "exp" / "sf_log.txt").read_text()
    assert "samples collected per iteration" in text


def test_value_sources(tmp_path):
    def env_defaults(parser, partial):
        parser.set_defaults(rollout=64)

    cfg = parse(exp_argv(tmp_path, "--batch_size=2048"), hook=env_defaults)
    cfg.gamma = 0.9  # programmatic edit
    sources = value_sources(cfg)
    assert sources["batch_size"] == "command line"
    assert sources["rollout"] == "environment defaults"
    assert sources["gamma"] == "set in code"
    assert "learning_rate" not in sources
    preprocess_cfg(cfg)
    assert value_sources(cfg)["recurrence"] == "derived from --recurrence=-1"


def test_git_diff_only_inside_git_repo(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    train_dir = tmp_path / "runs"
    prepare_experiment(parse([f"--env={ENV}", f"--train_dir={train_dir}", "--experiment=a", "--log_to_file=False"]))
    assert not (train_dir / "a" / "git.diff").exists()

    repo = tmp_path / "repo"
    repo.mkdir()
    if subprocess.run(["git", "init", "-q", str(repo)], check=False).returncode != 0:
        pytest.skip("git not available")
    (repo / "f.txt").write_text("x\n")
    monkeypatch.chdir(repo)
    cfg = prepare_experiment(
        parse([f"--env={ENV}", f"--train_dir={train_dir}", "--experiment=b", "--log_to_file=False"])
    )
    assert (train_dir / "b" / "git.diff").exists()
    assert cfg.git_hash == "unknown"  # no commit yet
    assert cfg.git_repo_name == "repo"


def test_resolve_device_falls_back_to_cpu(monkeypatch, caplog):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = default_cfg()
    assert cfg.device == "gpu"
    assert resolve_device(cfg).device == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cfg = default_cfg()
    assert resolve_device(cfg).device == "gpu"


def test_config_json_keeps_requested_device(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = [f"--env={ENV}", f"--train_dir={tmp_path}", "--experiment=exp", "--log_to_file=False"]
    cfg = prepare_experiment(parse(argv))
    assert cfg.device == "cpu"
    assert json.loads((tmp_path / "exp" / "config.json").read_text())["device"] == "gpu"  # portable resume


# ---------------------------------------------------------------- checkpoint config loading


def test_load_from_checkpoint(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=512", "--log_to_file=False")))
    cfg = parse(exp_argv(tmp_path, "--no_render", "--rollout=16"), evaluation=True)
    loaded = load_from_checkpoint(cfg)
    assert isinstance(loaded, arguments.AttrDict)
    assert loaded.batch_size == 512 and loaded.rollout == 16
    assert loaded.no_render is True and loaded.policy_index == 0  # eval keys from the current cfg
    assert "help" not in loaded


def test_load_from_checkpoint_missing_raises(tmp_path):
    cfg = parse(exp_argv(tmp_path))
    with pytest.raises(ConfigError, match="No config.json in"):
        load_from_checkpoint(cfg)
    assert maybe_load_from_checkpoint(cfg) is cfg


def test_checkpoint_override_defaults(tmp_path):
    prepare_experiment(parse(exp_argv(tmp_path, "--batch_size=512", "--rollout=16", "--log_to_file=False")))
    argv = exp_argv(tmp_path, "--rollout=8")
    parser, partial = parse_sf_args(argv, evaluation=True)
    saved = checkpoint_override_defaults(partial, parser)
    assert saved["batch_size"] == 512
    cfg = parse_full_cfg(parser, argv)
    assert (cfg.batch_size, cfg.rollout) == (512, 8)


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError)
    assert str(ConfigError(["a", "b"])) == "a\nb"
    assert verify.ConfigError is arguments.ConfigError


def test_provenance_not_saved(tmp_path):
    cfg = prepare_experiment(parse(exp_argv(tmp_path, "--log_to_file=False")))
    saved = json.loads((tmp_path / "exp" / "config.json").read_text())
    assert not [k for k in saved if k.startswith("_")]
    assert set(saved) == set(cfg_dict(cfg)) - {"help"}
    assert logging.getLogger("sf") is log


def test_docs_parameter_reference_is_up_to_date():
    docs = os.path.join(os.path.dirname(__file__), "..", "docs", "configuration.md")
    with open(docs) as f:
        text = f.read()
    assert parameter_table_markdown() in text, "regenerate the table in docs/configuration.md"
