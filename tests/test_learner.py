"""The Learner on tiny fake datasets: runs for discrete/continuous, with/without RNN, masks invalid data, learns,
and resumes exactly from a checkpoint."""

from __future__ import annotations

import math
from types import SimpleNamespace

import gymnasium as gym
import pytest
import torch

from sample_factory.algo.learning.checkpoint import load_checkpoint, save_checkpoint
from sample_factory.algo.learning.learner import Learner, minibatch_indices
from sample_factory.cfg.arguments import default_cfg
from sample_factory.model.model_factory import reset_global_context

OBS_DIM = 3


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Tiny tensors: intra-op threads only add contention on a shared CI machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_cfg(tmp_path=None, **overrides):
    cfg = default_cfg(env="fake_env", experiment="learner_test")
    cfg.device = "cpu"
    cfg.seed = 1
    cfg.use_rnn = False
    cfg.rnn_size = 8
    cfg.encoder_mlp_layers = [16]
    cfg.rollout = 4
    cfg.recurrence = -1
    cfg.batch_size = 16
    cfg.num_batches_per_epoch = 2
    cfg.num_epochs = 2
    if tmp_path is not None:
        cfg.train_dir = str(tmp_path)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def make_env_info(action_space):
    try:
        from sample_factory.algo.utils.env_info import EnvInfo

        obs_space = gym.spaces.Dict({"obs": gym.spaces.Box(-1.0, 1.0, (OBS_DIM,))})
        return EnvInfo(obs_space=obs_space, action_space=action_space, num_agents=1, frameskip=1)
    except ImportError:  # pragma: no cover
        obs_space = gym.spaces.Dict({"obs": gym.spaces.Box(-1.0, 1.0, (OBS_DIM,))})
        return SimpleNamespace(obs_space=obs_space, action_space=action_space, num_agents=1, frameskip=1)


def make_learner(cfg, action_space=None):
    reset_global_context()
    learner = Learner(cfg, make_env_info(action_space or gym.spaces.Discrete(2)), policy_id=0)
    learner.init()
    return learner


def fake_dataset(cfg, learner, seed=0):
    """A dataset of B = batch_size * num_batches_per_epoch / rollout random trajectories."""
    g = torch.Generator().manual_seed(seed)
    T = cfg.rollout
    B = cfg.batch_size * cfg.num_batches_per_epoch // T
    space = learner.env_info.action_space
    rnn_size = learner.actor_critic.core.core.hidden_size if cfg.use_rnn else 1
    if isinstance(space, gym.spaces.Discrete):
        actions = torch.randint(0, space.n, (B, T), generator=g)
        logits = torch.randn(B, T, space.n, generator=g) * 0.1
    elif isinstance(space, gym.spaces.Box):
        actions = torch.randn(B, T, space.shape[0], generator=g)
        logits = torch.zeros(B, T, 2 * space.shape[0])
    else:  # the test fills these in
        actions, logits = torch.zeros(B, T, 1), torch.zeros(B, T, 1)
    return {
        "obs": {"obs": torch.randn(B, T + 1, OBS_DIM, generator=g)},
        "rnn_states": torch.zeros(B, T + 1, rnn_size),
        "actions": actions,
        "action_logits": logits,
        "log_prob_actions": torch.full((B, T), -0.7),
        "values": torch.randn(B, T, generator=g) * 0.1,
        "rewards": torch.randn(B, T, generator=g),
        "dones": torch.rand(B, T, generator=g) < 0.2,
        "time_outs": torch.zeros(B, T, dtype=torch.bool),
        "policy_version": torch.full((B, T), learner.train_step, dtype=torch.int64),
        "policy_id": torch.zeros(B, T, dtype=torch.int64),
    }


REQUIRED_STATS = {
    "loss", "policy_loss", "value_loss", "exploration_loss", "kl_loss", "entropy", "grad_norm", "lr", "actual_lr",
    "value", "kl_divergence", "kl_divergence_max", "value_delta", "value_delta_max", "fraction_clipped", "ratio_mean",
    "ratio_min", "ratio_max", "num_sgd_steps", "valids_fraction", "same_policy_fraction", "version_diff_min",
    "version_diff_avg", "version_diff_max", "adv_min", "adv_max", "adv_std", "obs_running_mean", "obs_running_std",
    "returns_running_mean", "returns_running_std", "act_min", "act_max", "max_abs_logprob", "adam_max_second_moment",
}  # fmt: skip


def params_of(learner):
    return [p.detach().clone() for p in learner.actor_critic.parameters()]


@pytest.mark.parametrize(
    "action_space,use_rnn,shuffle",
    [
        (gym.spaces.Discrete(2), False, False),
        (gym.spaces.Discrete(2), True, True),
        (gym.spaces.Box(-1.0, 1.0, (2,)), False, True),
        (gym.spaces.Box(-1.0, 1.0, (2,)), True, False),
    ],
)
def test_train_runs_and_counts_steps(action_space, use_rnn, shuffle):
    cfg = make_cfg(use_rnn=use_rnn, shuffle_minibatches=shuffle, recurrence=4 if use_rnn else 1)
    learner = make_learner(cfg, action_space)
    before = params_of(learner)
    stats = learner.train(fake_dataset(cfg, learner))
    assert learner.train_step == cfg.num_epochs * cfg.num_batches_per_epoch
    assert stats["num_sgd_steps"] == cfg.num_epochs * cfg.num_batches_per_epoch
    assert REQUIRED_STATS <= set(stats), REQUIRED_STATS - set(stats)
    assert all(math.isfinite(v) for v in stats.values()), stats
    assert stats["valids_fraction"] == 1.0 and stats["actual_lr"] == pytest.approx(cfg.learning_rate)
    if isinstance(action_space, gym.spaces.Box):
        assert {"action_mean", "action_stddev", "action_log_std"} <= set(stats)
    assert any(not torch.equal(a, b) for a, b in zip(before, params_of(learner)))
    learner.train(fake_dataset(cfg, learner, seed=1))
    assert learner.train_step == 2 * cfg.num_epochs * cfg.num_batches_per_epoch


def test_invalid_samples_are_excluded():
    """Garbage in steps of another policy or too old must not change the update at all."""
    cfg = make_cfg(normalize_input=False, max_policy_lag=10)
    results = []
    for garbage in (0.0, 1e6):
        learner = make_learner(cfg)
        learner.train_step = 100
        ds = fake_dataset(cfg, learner)
        invalid = torch.zeros_like(ds["rewards"], dtype=torch.bool)
        invalid[0::2, :] = True
        ds["policy_id"][0::4] = -1  # inactive agent
        ds["policy_version"][2::4] = 100 - cfg.max_policy_lag  # exactly too old
        for key in ("rewards", "values", "log_prob_actions"):
            ds[key][invalid] = garbage
        ds["actions"][invalid] = 7 if garbage else 0  # out of range for Discrete(2)
        ds["action_logits"][invalid] = garbage
        stats = learner.train(ds)
        assert stats["valids_fraction"] == pytest.approx(0.5)
        assert stats["same_policy_fraction"] == pytest.approx(0.75)
        assert stats["actual_lr"] == pytest.approx(0.5 * cfg.learning_rate)
        assert stats["version_diff_max"] == pytest.approx(cfg.max_policy_lag)
        assert all(math.isfinite(v) for v in stats.values()), stats
        results.append(params_of(learner))
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-6)


def test_reward_scale_clip_and_value_bootstrap():
    cfg = make_cfg(normalize_returns=False, reward_scale=0.5, reward_clip=1.0, value_bootstrap=True, gamma=0.9)
    learner = make_learner(cfg)
    ds = fake_dataset(cfg, learner)
    ds["rewards"][:] = 4.0
    ds["rewards"][0, 0] = -0.4
    ds["values"][:] = 2.0
    ds["dones"][:] = False
    ds["time_outs"][:] = False
    ds["dones"][1, 2] = ds["time_outs"][1, 2] = True
    with torch.no_grad():
        batch = learner.prepare_dataset(ds)
    rewards = batch["rewards"].view(ds["rewards"].shape)
    assert rewards[0, 0] == pytest.approx(-0.2) and rewards[0, 1] == pytest.approx(1.0)
    assert rewards[1, 2] == pytest.approx(1.0 + 0.9 * 2.0)


def test_vtrace_and_symmetric_kl_paths():
    cfg = make_cfg(
        with_vtrace=True, normalize_returns=False, recurrence=4, exploration_loss="symmetric_kl", kl_loss_coeff=0.1
    )
    learner = make_learner(cfg)
    stats = learner.train(fake_dataset(cfg, learner))
    assert all(math.isfinite(v) for v in stats.values()), stats
    assert stats["exploration_loss"] > 0.0 and stats["kl_loss"] > 0.0
    with pytest.raises(ValueError, match="normalize_returns"):
        Learner(make_cfg(with_vtrace=True, normalize_returns=True), make_env_info(gym.spaces.Discrete(2)))


def test_lr_schedules_in_learner():
    cfg = make_cfg(lr_schedule="kl_adaptive_minibatch", lr_schedule_kl_threshold=1e-9)  # every KL is "too large"
    learner = make_learner(cfg)
    learner.train(fake_dataset(cfg, learner))
    assert learner.curr_lr == pytest.approx(cfg.learning_rate / 1.5**4)
    assert learner.optimizer.param_groups[0]["lr"] == pytest.approx(learner.curr_lr)
    cfg = make_cfg(lr_schedule="linear_decay", train_for_env_steps=16 * 8)  # 8 // 1 * 2 epochs = 16 steps
    learner = make_learner(cfg)
    learner.train(fake_dataset(cfg, learner))
    assert learner.curr_lr == pytest.approx(cfg.learning_rate * (1 - 4 / 16))


def _bandit_dataset(cfg, learner, g):
    """On-policy data of a contextual bandit: reward 1 when action == (obs[0] > 0), every step ends an episode."""
    T, B = cfg.rollout, cfg.batch_size * cfg.num_batches_per_epoch // cfg.rollout
    obs = torch.zeros(B, T + 1, OBS_DIM)
    obs[..., 0] = torch.randint(0, 2, (B, T + 1), generator=g).float() * 2 - 1
    with torch.no_grad():
        out = learner.actor_critic.forward({"obs": obs[:, :T].reshape(B * T, OBS_DIM)}, torch.zeros(B * T, 1))
    actions = out["actions"].view(B, T)
    rewards = (actions == (obs[:, :T, 0] > 0).long()).float()
    return {
        "obs": {"obs": obs}, "rnn_states": torch.zeros(B, T + 1, 1), "actions": actions,
        "action_logits": out["action_logits"].view(B, T, -1), "log_prob_actions": out["log_prob_actions"].view(B, T),
        "values": out["values"].view(B, T), "rewards": rewards, "dones": torch.ones(B, T, dtype=torch.bool),
        "time_outs": torch.zeros(B, T, dtype=torch.bool),
        "policy_version": torch.full((B, T), learner.train_step), "policy_id": torch.zeros(B, T, dtype=torch.int64),
    }  # fmt: skip


def test_learns_a_contextual_bandit():
    cfg = make_cfg(
        normalize_input=False, normalize_returns=False, learning_rate=3e-3, batch_size=64, num_batches_per_epoch=2,
        exploration_loss_coeff=0.0, ppo_clip_ratio=0.2,
    )  # fmt: skip
    learner = make_learner(cfg)
    g = torch.Generator().manual_seed(0)
    value_losses, policy_stats = [], []
    for _ in range(30):
        stats = learner.train(_bandit_dataset(cfg, learner, g))
        value_losses.append(stats["value_loss"])
        policy_stats.append(stats)
    probe = torch.zeros(2, OBS_DIM)
    probe[:, 0] = torch.tensor([-1.0, 1.0])
    with torch.no_grad():
        learner.actor_critic.forward({"obs": probe}, torch.zeros(2, 1))
        probs = learner.actor_critic.action_distribution().probs
    assert probs[0, 0] > 0.8 and probs[1, 1] > 0.8, probs
    assert sum(value_losses[-5:]) < 0.5 * sum(value_losses[:5]), value_losses


def test_checkpoint_roundtrip_resumes_exactly(tmp_path):
    cfg = make_cfg(tmp_path, shuffle_minibatches=True, use_rnn=True, recurrence=2)
    learner = make_learner(cfg)
    learner.train(fake_dataset(cfg, learner, seed=0))
    learner.env_steps, learner.best_performance = 1234, 5.5
    path = save_checkpoint(cfg, 0, learner.get_checkpoint_dict(), learner.train_step, learner.env_steps)

    resumed = make_learner(make_cfg(tmp_path, shuffle_minibatches=True, use_rnn=True, recurrence=2, seed=99))
    resumed.load_checkpoint_dict(load_checkpoint(path))
    assert (resumed.train_step, resumed.env_steps, resumed.best_performance) == (4, 1234, 5.5)
    assert resumed.curr_lr == learner.curr_lr
    for a, b in zip(params_of(learner), params_of(resumed)):
        assert torch.equal(a, b)
    for key, value in learner.actor_critic.state_dict().items():  # normalizer buffers included
        assert torch.equal(value, resumed.actor_critic.state_dict()[key]), key
    s1, s2 = learner.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for k in s1:
        assert all(torch.equal(torch.as_tensor(s1[k][n]), torch.as_tensor(s2[k][n])) for n in s1[k])
    # training both on the same data gives identical weights (optimizer moments and shuffle RNG restored)
    ds = fake_dataset(cfg, learner, seed=5)
    learner.train(ds)
    resumed.train(ds)
    for a, b in zip(params_of(learner), params_of(resumed)):
        assert torch.equal(a, b)


def test_minibatch_indices():
    assert [i.tolist() for i in minibatch_indices(8, 8, 1, False)] == [list(range(8))]
    assert [i.tolist() for i in minibatch_indices(8, 4, 1, False)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    shuffled = minibatch_indices(12, 6, 3, True, torch.Generator().manual_seed(0))
    assert sorted(torch.cat(shuffled).tolist()) == list(range(12))
    for mb in shuffled:  # whole chunks of 3 consecutive steps
        chunks = mb.view(-1, 3)
        assert all(c[0] % 3 == 0 and c.tolist() == [c[0], c[0] + 1, c[0] + 2] for c in chunks)
    with pytest.raises(ValueError, match="divisible"):
        minibatch_indices(10, 4, 1, False)


def test_action_mask_and_tuple_actions():
    cfg = make_cfg()
    reset_global_context()
    obs_space = gym.spaces.Dict(
        {"obs": gym.spaces.Box(-1.0, 1.0, (OBS_DIM,)), "action_mask": gym.spaces.Box(0, 1, (3,), dtype="int8")}
    )
    env_info = SimpleNamespace(obs_space=obs_space, action_space=gym.spaces.Discrete(3), num_agents=1, frameskip=1)
    learner = Learner(cfg, env_info)
    learner.init()
    ds = fake_dataset(cfg, learner)
    B, T = ds["rewards"].shape
    ds["obs"]["action_mask"] = torch.tensor([1, 1, 0], dtype=torch.int8).repeat(B, T + 1, 1)
    ds["actions"] = torch.randint(0, 2, (B, T))
    ds["action_logits"] = torch.tensor([0.0, 0.0, -1e9]).repeat(B, T, 1)
    stats = learner.train(ds)
    assert all(math.isfinite(v) for v in stats.values()), stats

    tuple_space = gym.spaces.Tuple([gym.spaces.Discrete(2), gym.spaces.Box(-1.0, 1.0, (2,))])
    learner = make_learner(cfg, tuple_space)
    ds = fake_dataset(cfg, learner)
    ds["actions"] = torch.cat([torch.randint(0, 2, (B, T, 1)).float(), torch.randn(B, T, 2)], dim=2)
    ds["action_logits"] = torch.zeros(B, T, 2 + 4)
    stats = learner.train(ds)
    assert all(math.isfinite(v) for v in stats.values()) and "action_stddev" in stats, stats


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_train_on_cuda_with_cpu_dataset(tmp_path):
    cfg = make_cfg(tmp_path, use_rnn=True, recurrence=4, shuffle_minibatches=True)
    reset_global_context()
    learner = Learner(cfg, make_env_info(gym.spaces.Discrete(2)), device=torch.device("cuda"))
    learner.init()
    stats = learner.train(fake_dataset(cfg, learner))
    assert learner.train_step == 4 and all(math.isfinite(v) for v in stats.values())
    path = save_checkpoint(cfg, 0, learner.get_checkpoint_dict(), learner.train_step, learner.env_steps)
    loaded = load_checkpoint(path, torch.device("cuda"))
    assert loaded["model"]["critic_linear.weight"].device.type == "cuda"


def test_train_without_stats_updates_the_model_identically():
    """with_stats=False (the learner worker's usual call) returns {} and changes nothing about the update."""
    cfg = make_cfg()
    a, b = make_learner(cfg), make_learner(cfg)
    b.actor_critic.load_state_dict(a.actor_critic.state_dict())
    for seed in range(3):
        ds = fake_dataset(cfg, a, seed=seed)
        stats = a.train(ds)
        assert REQUIRED_STATS <= set(stats)
        assert b.train(ds, with_stats=False) == {}
    assert a.train_step == b.train_step == 3 * cfg.num_epochs * cfg.num_batches_per_epoch
    for pa, pb in zip(params_of(a), params_of(b)):
        assert torch.equal(pa, pb)
