"""BPTT over recurrence chunks (`run_core_bptt`) equals a step-by-step loop that zeroes the state after dones."""

import gymnasium as gym
import pytest
import torch

from sample_factory.algo.learning.rnn_utils import build_core_out_from_seq, build_rnn_inputs, run_core_bptt
from sample_factory.model.actor_critic import create_actor_critic
from sample_factory.model.core import ModelCoreIdentity, ModelCoreRNN
from sample_factory.model.model_factory import reset_global_context
from sample_factory.utils.attr_dict import AttrDict


def _cfg(**kw):
    cfg = AttrDict(
        encoder_mlp_layers=[8], encoder_conv_architecture="convnet_simple", encoder_conv_mlp_layers=[8],
        use_rnn=True, rnn_size=6, rnn_type="gru", rnn_num_layers=1, decoder_mlp_layers=[], nonlinearity="elu",
        policy_initialization="orthogonal", policy_init_gain=1.0, actor_critic_share_weights=True,
        adaptive_stddev=True, continuous_tanh_scale=0.0, initial_stddev=1.0, normalize_input=False,
        normalize_input_keys=None, obs_subtract_mean=0.0, obs_scale=1.0, normalize_returns=False,
    )  # fmt: skip
    cfg.update(kw)
    return cfg


def step_loop(core, head_out, chunk_states, dones, recurrence):
    """Reference: one core step at a time, state from storage at chunk starts, zeroed after each done."""
    n = chunk_states.shape[0]
    x = head_out.reshape(n, recurrence, -1)
    dones = dones.reshape(n, recurrence)
    state = chunk_states
    outs = []
    for t in range(recurrence):
        out, state = core(x[:, t], state)
        state = state * (~dones[:, t]).unsqueeze(1).float()
        outs.append(out)
    return torch.stack(outs, dim=1).reshape(n * recurrence, -1)


def _inputs(num_traj=3, traj_len=8, recurrence=4, feat=5, state=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    head_out = torch.randn(num_traj * traj_len, feat, generator=g, requires_grad=True)
    dones = torch.rand(num_traj, traj_len, generator=g) < 0.3
    dones[0, 1] = True  # at least one reset inside a chunk
    dones[1, 3] = True  # and one on a chunk boundary
    chunk_states = torch.randn(num_traj * traj_len // recurrence, state, generator=g)
    return head_out, chunk_states, dones


@pytest.mark.parametrize(
    "rnn_type,layers,recurrence", [("gru", 1, 4), ("gru", 2, 8), ("lstm", 1, 4), ("lstm", 2, 2), ("gru", 1, 1)]
)
def test_bptt_matches_step_loop(rnn_type, layers, recurrence):
    torch.manual_seed(0)
    cfg = _cfg(rnn_type=rnn_type, rnn_num_layers=layers)
    core = ModelCoreRNN(cfg, 5)
    state_size = 6 * layers * (2 if rnn_type == "lstm" else 1)
    head_out, chunk_states, dones = _inputs(recurrence=recurrence, state=state_size)
    if recurrence == 1:
        chunk_states = torch.randn(head_out.shape[0], state_size)
    out = run_core_bptt(core, head_out, chunk_states, dones, recurrence)
    expected = step_loop(core, head_out, chunk_states, dones, recurrence)
    assert out.shape == (head_out.shape[0], 6)
    assert torch.allclose(out, expected, atol=1e-5)
    # gradients flow identically through both paths
    (g1,) = torch.autograd.grad(out.square().sum(), head_out)
    (g2,) = torch.autograd.grad(expected.square().sum(), head_out)
    assert torch.allclose(g1, g2, atol=1e-5)


def test_reset_really_matters():
    """Sanity check that the test above can fail: ignoring dones gives different outputs."""
    core = ModelCoreRNN(_cfg(), 5)
    head_out, chunk_states, dones = _inputs()
    with_resets = run_core_bptt(core, head_out, chunk_states, dones, 4)
    no_resets = run_core_bptt(core, head_out, chunk_states, torch.zeros_like(dones), 4)
    assert not torch.allclose(with_resets, no_resets, atol=1e-3)


def test_identity_core_round_trips():
    core = ModelCoreIdentity(_cfg(use_rnn=False), 5)
    head_out, _, dones = _inputs()
    packed, init, index = build_rnn_inputs(head_out, dones, torch.zeros(6, 1), 4)
    assert init.shape[0] == len(packed.sorted_indices) >= 6  # one state per segment, at least one per chunk
    out, _ = core(packed, init)
    assert torch.equal(build_core_out_from_seq(out, index), head_out)


def test_segments_and_initial_states():
    """Chunk [a b | c d] with a done after b: 2 segments, the second starts from zeros."""
    x = torch.arange(8, dtype=torch.float32).unsqueeze(1)
    dones = torch.tensor([[False, True, False, False], [False, False, False, False]])
    states = torch.tensor([[7.0], [9.0]])
    packed, init, _ = build_rnn_inputs(x, dones, states, 4)
    assert init.squeeze(1).tolist() == [7.0, 0.0, 9.0]
    assert packed.batch_sizes.tolist() == [3, 3, 1, 1]


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="recurrence"):
        build_rnn_inputs(torch.zeros(6, 2), torch.zeros(6, dtype=torch.bool), torch.zeros(1, 3), 4)
    with pytest.raises(ValueError, match="chunk-start"):
        build_rnn_inputs(torch.zeros(8, 2), torch.zeros(8, dtype=torch.bool), torch.zeros(1, 3), 4)


@pytest.mark.parametrize("share", [True, False])
def test_actor_critic_forward_core_with_bptt(share):
    reset_global_context()
    torch.manual_seed(0)
    cfg = _cfg(actor_critic_share_weights=share, rnn_type="lstm")
    model = create_actor_critic(cfg, gym.spaces.Box(-1, 1, (5,)), gym.spaces.Discrete(3))
    state_size = 6 * 2 * (1 if share else 2)
    obs = torch.randn(3 * 8, 5)
    head_out = model.forward_head({"obs": obs})
    _, chunk_states, dones = _inputs(state=state_size)
    out = run_core_bptt(model.forward_core, head_out, chunk_states, dones, 4)
    expected = step_loop(model.forward_core, head_out, chunk_states, dones, 4)
    assert torch.allclose(out, expected, atol=1e-5)
    result = model.forward_tail(out, values_only=False, sample_actions=False)
    assert result["values"].shape == (24,) and result["action_logits"].shape == (24, 3)
    assert model.action_distribution().log_prob(torch.zeros(24, dtype=torch.long)).shape == (24,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_bptt_matches_step_loop_on_cuda(rnn_type):
    torch.manual_seed(0)
    core = ModelCoreRNN(_cfg(rnn_type=rnn_type), 5).cuda()
    head_out, chunk_states, dones = _inputs(state=12 if rnn_type == "lstm" else 6)
    head_out, chunk_states = head_out.detach().cuda(), chunk_states.cuda()
    out = run_core_bptt(core, head_out, chunk_states, dones, 4)  # dones may stay on the CPU
    expected = step_loop(core, head_out, chunk_states, dones.cuda(), 4)
    assert out.device.type == "cuda" and torch.allclose(out, expected, atol=1e-4)
