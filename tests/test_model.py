"""The actor-critic model: upstream state-dict keys, shared/separate weights, encoders, cores, heads, factory."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from sample_factory.algo.utils.context import global_model_factory, reset_global_context
from sample_factory.algo.utils.torch_utils import calc_num_elements, inference_context, masked_select, to_scalar
from sample_factory.model.actor_critic import (
    ActorCritic,
    ActorCriticSeparateWeights,
    ActorCriticSharedWeights,
    create_actor_critic,
    get_rnn_size,
)
from sample_factory.model.encoder import Encoder, MultiInputEncoder, make_img_encoder
from sample_factory.model.model_utils import create_mlp, model_device, nonlinearity
from sample_factory.utils.attr_dict import AttrDict

CARTPOLE_OBS = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)


def model_cfg(**kw):
    cfg = AttrDict(
        encoder_mlp_layers=[512, 512], encoder_conv_architecture="convnet_simple", encoder_conv_mlp_layers=[512],
        use_rnn=True, rnn_size=512, rnn_type="gru", rnn_num_layers=1, decoder_mlp_layers=[], nonlinearity="elu",
        policy_initialization="orthogonal", policy_init_gain=1.0, actor_critic_share_weights=True,
        adaptive_stddev=True, continuous_tanh_scale=0.0, initial_stddev=1.0, normalize_input=True,
        normalize_input_keys=None, obs_subtract_mean=0.0, obs_scale=1.0, normalize_returns=True,
    )  # fmt: skip
    cfg.update(kw)
    return cfg


def small_cfg(**kw):
    base = dict(encoder_mlp_layers=[16, 16], encoder_conv_mlp_layers=[16], rnn_size=8)
    base.update(kw)
    return model_cfg(**base)


@pytest.fixture(autouse=True)
def _fresh_factory():
    reset_global_context()
    yield
    reset_global_context()


def run_forward(model, obs, batch):
    rnn = torch.zeros(batch, get_rnn_size(model.cfg))
    with torch.no_grad():
        return model(model.normalize_obs(obs), rnn)


def test_default_cartpole_state_dict_keys_match_upstream():
    model = create_actor_critic(model_cfg(), CARTPOLE_OBS, gym.spaces.Discrete(2))
    assert isinstance(model, ActorCriticSharedWeights)
    rms = "obs_normalizer.running_mean_std.running_mean_std.obs."
    expected = {
        rms + "running_mean": (4,),
        rms + "running_var": (4,),
        rms + "count": (1,),
        "returns_normalizer.running_mean": (1,),
        "returns_normalizer.running_var": (1,),
        "returns_normalizer.count": (1,),
        "encoder.encoders.obs.mlp_head.0.weight": (512, 4),
        "encoder.encoders.obs.mlp_head.0.bias": (512,),
        "encoder.encoders.obs.mlp_head.2.weight": (512, 512),
        "encoder.encoders.obs.mlp_head.2.bias": (512,),
        "core.core.weight_ih_l0": (1536, 512),
        "core.core.weight_hh_l0": (1536, 512),
        "core.core.bias_ih_l0": (1536,),
        "core.core.bias_hh_l0": (1536,),
        "critic_linear.weight": (1, 512),
        "critic_linear.bias": (1,),
        "action_parameterization.distribution_linear.weight": (2, 512),
        "action_parameterization.distribution_linear.bias": (2,),
    }
    sd = model.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    assert sd[rms + "running_mean"].dtype == torch.float64
    # a checkpoint-style round trip restores identical outputs
    other = create_actor_critic(model_cfg(policy_initialization="torch_default"), CARTPOLE_OBS, gym.spaces.Discrete(2))
    other.load_state_dict(sd)
    obs = {"obs": torch.randn(3, 4)}
    model.eval(), other.eval()
    r1, r2 = run_forward(model, obs, 3), run_forward(other, obs, 3)
    assert torch.equal(r1["values"], r2["values"]) and torch.equal(r1["action_logits"], r2["action_logits"])


def test_forward_outputs_for_default_model():
    model = create_actor_critic(small_cfg(), CARTPOLE_OBS, gym.spaces.Discrete(2))
    out = run_forward(model, {"obs": torch.randn(5, 4)}, 5)
    assert out["values"].shape == (5,)
    assert out["action_logits"].shape == (5, 2)
    assert out["actions"].shape == (5,) and out["actions"].dtype == torch.int64
    assert out["log_prob_actions"].shape == (5,)
    assert out["new_rnn_states"].shape == (5, 8)
    dist = model.action_distribution()
    assert torch.allclose(dist.log_prob(out["actions"]), out["log_prob_actions"])
    values_only = model(model.normalize_obs({"obs": torch.randn(5, 4)}), torch.zeros(5, 8), values_only=True)
    assert set(values_only) == {"values", "new_rnn_states"}


def test_normalizers_can_be_disabled():
    cfg = small_cfg(normalize_input=False, normalize_returns=False)
    model = create_actor_critic(cfg, CARTPOLE_OBS, gym.spaces.Discrete(2))
    keys = list(model.state_dict())
    assert not any(k.startswith("obs_normalizer") for k in keys)
    assert model.returns_normalizer is None and not any(k.startswith("returns_normalizer") for k in keys)
    assert model.summaries() == {}


def test_normalize_obs_updates_stats_in_train_mode_only():
    model = create_actor_critic(small_cfg(), CARTPOLE_OBS, gym.spaces.Discrete(2))
    obs = {"obs": torch.full((10, 4), 2.0)}
    model.eval()
    model.normalize_obs(obs)
    rms = model.obs_normalizer.running_mean_std.running_mean_std["obs"]
    assert rms.count.item() == 1.0
    model.train()
    normalized = model.normalize_obs(obs)
    assert rms.count.item() == 11.0
    assert torch.all(obs["obs"] == 2.0)  # input untouched
    assert normalized["obs"].abs().max().item() < 1.0
    stats = model.summaries()
    assert set(stats) == {"obs_running_mean", "obs_running_std", "returns_running_mean", "returns_running_std"}


@pytest.mark.parametrize(
    "cfg_kw,expected", [({}, 512), ({"rnn_type": "lstm"}, 1024), ({"rnn_num_layers": 2}, 1024),
                        ({"actor_critic_share_weights": False, "rnn_type": "lstm"}, 2048), ({"use_rnn": False}, 1),
                        ({"use_rnn": False, "rnn_type": "lstm", "actor_critic_share_weights": False}, 4)],
)  # fmt: skip
def test_get_rnn_size(cfg_kw, expected):
    assert get_rnn_size(model_cfg(**cfg_kw)) == expected


@pytest.mark.parametrize(
    "rnn_type,layers,use_rnn", [("gru", 2, True), ("lstm", 1, True), ("lstm", 2, True), ("gru", 1, False)]
)
@pytest.mark.parametrize("share", [True, False])
def test_core_variants_state_sizes(rnn_type, layers, use_rnn, share):
    cfg = small_cfg(rnn_type=rnn_type, rnn_num_layers=layers, use_rnn=use_rnn, actor_critic_share_weights=share)
    model = create_actor_critic(cfg, CARTPOLE_OBS, gym.spaces.Discrete(3))
    assert isinstance(model, ActorCriticSharedWeights if share else ActorCriticSeparateWeights)
    size = get_rnn_size(cfg)
    rnn = torch.randn(4, size)
    out = model(model.normalize_obs({"obs": torch.randn(4, 4)}), rnn)
    assert out["new_rnn_states"].shape == (4, size)
    if not use_rnn:
        assert torch.equal(out["new_rnn_states"], rnn)
    elif rnn_type == "lstm" and layers == 2 and share:
        # per-layer blocks of cat(h, c): the layer-0 hidden state h feeds layer 1
        h0 = torch.zeros(2, 4, 8)
        c0 = torch.zeros(2, 4, 8)
        states = rnn.reshape(4, 2, 16).transpose(0, 1)
        h0, c0 = states[..., :8].contiguous(), states[..., 8:].contiguous()
        with torch.no_grad():
            head = model.forward_head(model.normalize_obs({"obs": torch.ones(4, 4)}))
            _, (h, c) = model.core.core(head.unsqueeze(0), (h0, c0))
            _, new = model.forward_core(head, rnn)
        assert torch.allclose(new.reshape(4, 2, 16)[:, 1, :8], h[1]) and torch.allclose(
            new.reshape(4, 2, 16)[:, 0, 8:], c[0]
        )


def test_separate_weights_keys():
    fast = {"policy_initialization": "torch_default"}  # orthogonal init of 512x512 is slow on a busy CPU
    model = create_actor_critic(
        model_cfg(actor_critic_share_weights=False, **fast), CARTPOLE_OBS, gym.spaces.Discrete(2)
    )
    keys = set(model.state_dict())
    for prefix in ("actor_encoder.encoders.obs.mlp_head.0.weight", "critic_encoder.encoders.obs.mlp_head.2.weight",
                   "actor_core.core.weight_ih_l0", "critic_core.core.weight_hh_l0", "critic_linear.weight",
                   "action_parameterization.distribution_linear.weight"):  # fmt: skip
        assert prefix in keys
    assert not any(k.startswith(("encoder.", "core.")) for k in keys)
    shared = create_actor_critic(model_cfg(**fast), CARTPOLE_OBS, gym.spaces.Discrete(2))
    n_sep = sum(p.numel() for p in model.parameters())
    n_shared = sum(p.numel() for p in shared.parameters())
    head = 512 * 2 + 2 + 512 + 1  # action head + critic head, not duplicated
    assert n_sep - head == 2 * (n_shared - head)


def test_decoder_mlp_keys_and_sizes():
    model = create_actor_critic(small_cfg(decoder_mlp_layers=[32, 4]), CARTPOLE_OBS, gym.spaces.Discrete(2))
    sd = model.state_dict()
    assert tuple(sd["decoder.mlp.0.weight"].shape) == (32, 8) and tuple(sd["decoder.mlp.2.weight"].shape) == (4, 32)
    assert tuple(sd["critic_linear.weight"].shape) == (1, 4)


IMG = gym.spaces.Box(0, 255, (3, 64, 64), np.uint8)


@pytest.mark.parametrize(
    "arch,first_conv,last_key,last_shape",
    [
        ("convnet_simple", (32, 3, 8, 8), "enc.conv_head.4.weight", (128, 64, 3, 3)),
        ("convnet_impala", (16, 3, 8, 8), "enc.conv_head.2.weight", (32, 16, 4, 4)),
        ("convnet_atari", (32, 3, 8, 8), "enc.conv_head.4.weight", (64, 64, 3, 3)),
        ("resnet_impala", (16, 3, 3, 3), "conv_head.11.res_block_core.3.weight", (32, 32, 3, 3)),
    ],
)
def test_conv_encoders_with_uint8_images(arch, first_conv, last_key, last_shape):
    cfg = small_cfg(encoder_conv_architecture=arch, obs_scale=255.0)
    model = create_actor_critic(cfg, IMG, gym.spaces.Discrete(4))
    sd = model.state_dict()
    prefix = "encoder.encoders.obs." + ("" if arch == "resnet_impala" else "enc.")
    assert tuple(sd[prefix + "conv_head.0.weight"].shape) == first_conv
    assert tuple(sd["encoder.encoders.obs." + last_key].shape) == last_shape
    assert tuple(sd[prefix + "mlp_layers.0.weight"].shape)[0] == 16
    assert model.encoder.get_out_size() == 16
    obs = {"obs": torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)}
    out = run_forward(model, obs, 2)
    assert out["values"].shape == (2,) and torch.isfinite(out["values"]).all()
    assert obs["obs"].dtype == torch.uint8


def test_conv_output_sizes_by_hand():
    # convnet_simple on 84x84: (84-8)/4+1=20 -> (20-4)/2+1=9 -> (9-3)/2+1=4 -> 128*4*4 features
    enc = make_img_encoder(small_cfg(encoder_conv_mlp_layers=[]), gym.spaces.Box(0, 1, (4, 84, 84)))
    assert enc.get_out_size() == 128 * 4 * 4
    # resnet_impala: 84 -> 42 -> 21 -> 11 with 32 channels
    enc = make_img_encoder(small_cfg(encoder_conv_mlp_layers=[], encoder_conv_architecture="resnet_impala"),
                           gym.spaces.Box(0, 1, (4, 84, 84)))  # fmt: skip
    assert enc.get_out_size() == 32 * 11 * 11
    assert enc(torch.zeros(2, 4, 84, 84)).shape == (2, 32 * 11 * 11)


def test_multi_input_encoder_sorted_and_concatenated():
    space = gym.spaces.Dict(
        {"z_vec": gym.spaces.Box(-1, 1, (5,)), "a_img": gym.spaces.Box(0, 255, (1, 36, 36), np.uint8)}
    )
    model = create_actor_critic(small_cfg(encoder_conv_architecture="convnet_impala"), space, gym.spaces.Discrete(2))
    enc = model.encoder
    assert isinstance(enc, MultiInputEncoder) and list(enc.encoders.keys()) == ["a_img", "z_vec"]
    assert enc.get_out_size() == 16 + 16
    obs = {"z_vec": torch.randn(3, 5), "a_img": torch.randint(0, 255, (3, 1, 36, 36), dtype=torch.uint8)}
    normalized = model.normalize_obs(obs)
    feats = enc(normalized)
    assert torch.allclose(feats[:, 16:], enc.encoders["z_vec"](normalized["z_vec"]))
    assert "obs_normalizer.running_mean_std.running_mean_std.a_img.running_mean" in model.state_dict()


def test_action_mask_key_removed_and_applied():
    space = gym.spaces.Dict({"obs": gym.spaces.Box(-1, 1, (4,)), "action_mask": gym.spaces.Box(0, 1, (3,), np.int8)})
    model = create_actor_critic(small_cfg(), space, gym.spaces.Discrete(3))
    assert "action_mask" not in model.obs_space.spaces
    assert not any("action_mask" in k for k in model.state_dict())
    torch.manual_seed(0)
    mask = torch.tensor([[0, 1, 0]] * 64, dtype=torch.int8)
    obs = {"obs": torch.randn(64, 4), "action_mask": mask}
    out = run_forward(model, obs, 64)  # the mask is taken from the obs dict
    assert torch.all(out["actions"] == 1)
    assert torch.all(out["action_logits"][:, [0, 2]] == -1e9)
    out = model(model.normalize_obs({"obs": torch.randn(64, 4)}), torch.zeros(64, 8), action_mask=mask)
    assert torch.all(out["actions"] == 1) and torch.allclose(out["log_prob_actions"], torch.zeros(64), atol=1e-5)


@pytest.mark.parametrize(
    "space,action_shape,dtype",
    [
        (gym.spaces.MultiDiscrete([2, 3]), (2,), torch.int64),
        (gym.spaces.Box(-1, 1, (3,)), (3,), torch.float32),
        (gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Box(-1, 1, (2,)))), (3,), torch.float32),
    ],
)
def test_forward_for_action_spaces(space, action_shape, dtype):
    model = create_actor_critic(small_cfg(), CARTPOLE_OBS, space)
    out = run_forward(model, {"obs": torch.randn(4, 4)}, 4)
    assert out["actions"].shape == (4, *action_shape) and out["actions"].dtype == dtype
    assert out["log_prob_actions"].shape == (4,)


def test_non_adaptive_stddev_and_tanh_scale():
    cfg = small_cfg(adaptive_stddev=False, initial_stddev=0.5, continuous_tanh_scale=2.0)
    model = create_actor_critic(cfg, CARTPOLE_OBS, gym.spaces.Box(-1, 1, (3,)))
    sd = model.state_dict()
    assert tuple(sd["action_parameterization.distribution_linear.weight"].shape) == (3, 8)
    assert torch.allclose(sd["action_parameterization.learned_stddev"], torch.full((3,), math.log(0.5)))
    with torch.no_grad():
        model.action_parameterization.distribution_linear.bias.fill_(100.0)
    out = run_forward(model, {"obs": torch.randn(4, 4)}, 4)
    means, log_std = out["action_logits"].chunk(2, dim=1)
    assert torch.allclose(means, torch.full((4, 3), 2.0), atol=1e-3)  # tanh(big) * 2
    assert torch.allclose(log_std, torch.full((4, 3), math.log(0.5)))
    adaptive = create_actor_critic(small_cfg(), CARTPOLE_OBS, gym.spaces.Box(-1, 1, (3,)))
    assert tuple(adaptive.state_dict()["action_parameterization.distribution_linear.weight"].shape) == (6, 8)


@pytest.mark.parametrize("init,gain", [("orthogonal", 1.0), ("orthogonal", 2.0), ("xavier_uniform", 1.0)])
def test_policy_initialization(init, gain):
    model = create_actor_critic(
        small_cfg(policy_initialization=init, policy_init_gain=gain), CARTPOLE_OBS, gym.spaces.Discrete(2)
    )
    w = model.encoder.encoders["obs"].mlp_head[2].weight.detach()  # 16 x 16
    assert torch.all(model.encoder.encoders["obs"].mlp_head[2].bias == 0) and torch.all(model.critic_linear.bias == 0)
    if init == "orthogonal":
        assert torch.allclose(w @ w.T, gain**2 * torch.eye(16), atol=1e-4)
    else:
        bound = gain * math.sqrt(6.0 / 32)
        assert w.abs().max().item() <= bound and not torch.allclose(w @ w.T, torch.eye(16), atol=1e-2)
    default = create_actor_critic(
        small_cfg(policy_initialization="torch_default"), CARTPOLE_OBS, gym.spaces.Discrete(2)
    )
    assert default.critic_linear.bias.abs().sum().item() > 0


def test_custom_encoder_registered_in_global_factory_is_used():
    class TinyEncoder(Encoder):
        def __init__(self, cfg, obs_space):
            super().__init__(cfg)
            self.fc = nn.Linear(obs_space["obs"].shape[0], 3)

        def forward(self, obs_dict):
            return self.fc(obs_dict["obs"])

        def get_out_size(self):
            return 3

    global_model_factory().register_encoder_factory(TinyEncoder)
    model = create_actor_critic(small_cfg(), CARTPOLE_OBS, gym.spaces.Discrete(2))
    assert isinstance(model.encoder, TinyEncoder) and "encoder.fc.weight" in model.state_dict()
    assert tuple(model.state_dict()["core.core.weight_ih_l0"].shape) == (24, 3)
    assert run_forward(model, {"obs": torch.randn(2, 4)}, 2)["values"].shape == (2,)
    reset_global_context()
    assert isinstance(create_actor_critic(small_cfg(), CARTPOLE_OBS, gym.spaces.Discrete(2)).encoder, MultiInputEncoder)


def test_custom_actor_critic_factory():
    calls = []

    def make(cfg, obs_space, action_space):
        calls.append(obs_space)
        return ActorCriticSharedWeights(global_model_factory(), obs_space, action_space, cfg)

    global_model_factory().register_actor_critic_factory(make)
    space = gym.spaces.Dict({"obs": CARTPOLE_OBS, "action_mask": gym.spaces.Box(0, 1, (2,))})
    model = create_actor_critic(small_cfg(), space, gym.spaces.Discrete(2))
    assert isinstance(model, ActorCritic) and list(calls[0].spaces) == ["obs"]


def test_model_utils_helpers():
    mlp = create_mlp([8, 4], 3, nonlinearity(small_cfg(nonlinearity="relu")))
    assert [type(m) for m in mlp] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU]
    assert len(create_mlp([], 3, nn.ELU())) == 0
    assert isinstance(nonlinearity(small_cfg(nonlinearity="tanh")), nn.Tanh)
    with pytest.raises(ValueError, match="nonlinearity"):
        nonlinearity(small_cfg(nonlinearity="gelu"))
    assert calc_num_elements(nn.Conv2d(2, 5, 3), (2, 7, 7)) == 5 * 5 * 5
    assert model_device(mlp) == torch.device("cpu") and model_device(nn.ReLU()) == torch.device("cpu")
    assert to_scalar(torch.tensor(3.5)) == 3.5 and to_scalar(np.float64(2.0)) == 2.0 and to_scalar(7) == 7
    x = torch.arange(4)
    assert masked_select(x, torch.tensor([True, False, True, False])).tolist() == [0, 2]
    assert masked_select(x, None) is x
    with inference_context():
        assert torch.is_inference_mode_enabled()


def test_device_and_dtype_queries():
    model = create_actor_critic(small_cfg(), CARTPOLE_OBS, gym.spaces.Discrete(2))
    model.model_to_device("cpu")
    assert model.device_for_input_tensor("obs") == torch.device("cpu")
    assert model.type_for_input_tensor("obs") == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_forward_on_cuda():
    model = create_actor_critic(small_cfg(encoder_conv_architecture="resnet_impala"), IMG, gym.spaces.Discrete(4))
    model.model_to_device("cuda")
    assert model.device_for_input_tensor("obs").type == "cuda"
    obs = {"obs": torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8, device="cuda")}
    out = model(model.normalize_obs(obs), torch.zeros(2, 8, device="cuda"))
    assert out["actions"].device.type == "cuda" and out["values"].shape == (2,)
