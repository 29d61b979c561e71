"""The lean inference step (model/fast_inference.py) against the model's own forward pass: bit-identical outputs and
random stream for the stock MLP policy, None for everything it does not cover."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_model import model_cfg

from sample_factory.algo.utils.context import reset_global_context
from sample_factory.model.actor_critic import ActorCriticSharedWeights, create_actor_critic, get_rnn_size
from sample_factory.model.fast_inference import make_fast_policy_step

CARTPOLE_OBS = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
KEYS = ("values", "action_logits", "actions", "log_prob_actions", "new_rnn_states")


@pytest.fixture(autouse=True)
def _fresh_factory():
    reset_global_context()
    yield
    reset_global_context()


def _model(obs_space=CARTPOLE_OBS, action_space=None, **kw):
    cfg = model_cfg(**{"use_rnn": False, "encoder_mlp_layers": [32, 32], **kw})
    model = create_actor_critic(cfg, gym.spaces.Dict({"obs": obs_space}), action_space or gym.spaces.Discrete(3))
    if model.obs_normalizer.running_mean_std is not None:  # non-trivial statistics
        model.train()
        model.normalize_obs({"obs": torch.randn(64, *obs_space.shape) * 3 + 1})
    return model.eval()


def _reference(model, obs, rnn):
    with torch.inference_mode():
        return model(model.normalize_obs(obs), rnn)


@pytest.mark.parametrize(
    "kw",
    [
        {},  # the CartPole defaults without the RNN: MLP 32-32, ELU, input normalization
        {"nonlinearity": "relu", "decoder_mlp_layers": [16]},
        {"nonlinearity": "tanh", "normalize_input": False},
        {"encoder_mlp_layers": []},
    ],
)
@pytest.mark.parametrize("batch", [1, 7])
def test_fast_step_is_bit_identical_to_the_model(kw, batch):
    model = _model(**kw)
    step = make_fast_policy_step(model)
    assert step is not None
    obs = {"obs": torch.randn(batch, 4) * 2}
    rnn = torch.zeros(batch, get_rnn_size(model.cfg))
    for seed in range(3):
        torch.manual_seed(seed)
        expected = _reference(model, obs, rnn)
        torch.manual_seed(seed)
        with torch.inference_mode():
            got = step(obs, rnn)
        for k in KEYS:
            assert torch.equal(got[k], expected[k]), k
        # the random streams advanced alike: the next draw is the same
        torch.manual_seed(seed)
        _reference(model, obs, rnn)
        a = torch.rand(4)
        torch.manual_seed(seed)
        with torch.inference_mode():
            step(obs, rnn)
        assert torch.equal(torch.rand(4), a)
    assert torch.equal(obs["obs"], obs["obs"].clone())  # the caller's observations are untouched


def test_fast_step_follows_weight_updates_in_place():
    model = _model()
    step = make_fast_policy_step(model)
    obs, rnn = {"obs": torch.randn(5, 4)}, torch.zeros(5, 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)  # what the learner does to the shared weights
    torch.manual_seed(0)
    expected = _reference(model, obs, rnn)
    torch.manual_seed(0)
    with torch.inference_mode():
        got = step(obs, rnn)
    assert all(torch.equal(got[k], expected[k]) for k in KEYS)


def test_fast_step_in_train_mode_uses_the_model_and_updates_the_normalizer():
    model = _model()
    step = make_fast_policy_step(model)
    model.train()
    count = float(model.obs_normalizer.running_mean_std.running_mean_std["obs"].count)
    step({"obs": torch.randn(5, 4)}, torch.zeros(5, 1))
    assert float(model.obs_normalizer.running_mean_std.running_mean_std["obs"].count) > count


class _Custom(ActorCriticSharedWeights):
    pass


def test_not_built_for_other_models():
    assert make_fast_policy_step(_model(use_rnn=True)) is None  # RNN core
    assert make_fast_policy_step(_model(action_space=gym.spaces.Box(-1, 1, (2,)))) is None  # continuous actions
    assert make_fast_policy_step(_model(obs_subtract_mean=0.5)) is None
    assert make_fast_policy_step(_model(actor_critic_share_weights=False)) is None
    model = _model()
    model.__class__ = _Custom  # a user's subclass may override any part of the forward pass
    assert make_fast_policy_step(model) is None
    hooked = _model()
    hooked.critic_linear.register_forward_hook(lambda *a: None)
    assert make_fast_policy_step(hooked) is None
    dict_obs = create_actor_critic(
        model_cfg(use_rnn=False),
        gym.spaces.Dict({"obs": CARTPOLE_OBS, "extra": CARTPOLE_OBS}),
        gym.spaces.Discrete(2),
    )
    assert make_fast_policy_step(dict_obs) is None
