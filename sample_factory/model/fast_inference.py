"""A lean inference step for the stock MLP actor-critic with a discrete action.

`make_fast_policy_step(model)` returns a function `(obs_dict, rnn_states) -> outputs` that performs exactly the
operations of `model(model.normalize_obs(obs_dict), rnn_states)` (eval mode, no action mask): the same torch ops on
the same parameters in the same order, so outputs, sampled actions and the random stream are bit-identical. It skips
the nn.Module call machinery, the per-call distribution object and the dict plumbing: ~70 us less per call on the
2-core CPU machine, a quarter of a CartPole inference call at batch 20 (docs/benchmarks.md).

It is built only for exactly the stock classes (`ActorCriticSharedWeights`, one "obs" key through an `MlpEncoder`,
no RNN core, an `MlpDecoder`, `ActionParameterizationDefault`, `Discrete` actions) with no hooks registered; for
anything else (custom models, RNN cores, image encoders, continuous or tuple actions) it returns None and the
inference worker calls the model as usual.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import torch
import torch.nn.functional as F
from torch import Tensor, nn

PolicyStep = Callable[[dict[str, Tensor], Tensor], dict[str, Tensor]]
_Layer = tuple[nn.Linear, Callable[[Tensor], Tensor] | None]


def _activation(module: nn.Module) -> Callable[[Tensor], Tensor] | None:
    """The in-place functional form of a stock activation (the input is always a fresh Linear output)."""
    if type(module) is nn.ELU:
        alpha = module.alpha
        return lambda x: F.elu(x, alpha, inplace=True)
    if type(module) is nn.ReLU:
        return lambda x: F.relu(x, inplace=True)
    if type(module) is nn.Tanh:
        return lambda x: x.tanh_()
    return None


def _mlp_layers(seq: nn.Module) -> list[_Layer] | None:
    """[(Linear, activation or None)] for a Sequential of Linear layers each followed by at most one activation."""
    if type(seq) is not nn.Sequential:
        return None
    layers: list[_Layer] = []
    for m in seq:
        if type(m) is nn.Linear:
            layers.append((m, None))
            continue
        act = _activation(m)
        if act is None or not layers or layers[-1][1] is not None:
            return None
        layers[-1] = (layers[-1][0], act)
    return layers


def _has_hooks(model: nn.Module) -> bool:
    from torch.nn.modules import module as module_mod

    global_hooks = (
        module_mod._global_forward_hooks,
        module_mod._global_forward_pre_hooks,
    )
    if any(len(h) for h in global_hooks):
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def make_fast_policy_step(model: nn.Module) -> PolicyStep | None:
    """A lean equivalent of `model(model.normalize_obs(obs), rnn_states)` for the stock MLP model, else None."""
    from sample_factory.model.action_parameterization import ActionParameterizationDefault
    from sample_factory.model.actor_critic import ActorCriticSharedWeights
    from sample_factory.model.core import ModelCoreIdentity
    from sample_factory.model.decoder import MlpDecoder
    from sample_factory.model.encoder import MlpEncoder, MultiInputEncoder
    from sample_factory.model.running_mean_std import ObservationNormalizer, RunningMeanStdDictInPlace

    if type(model) is not ActorCriticSharedWeights or _has_hooks(model):
        return None
    encoder, core, decoder = model.encoder, model.core, model.decoder
    params = model.action_parameterization
    if type(encoder) is not MultiInputEncoder or list(encoder.obs_keys) != ["obs"]:
        return None
    obs_encoder = encoder.encoders["obs"]
    if type(obs_encoder) is not MlpEncoder or type(core) is not ModelCoreIdentity or type(decoder) is not MlpDecoder:
        return None
    if type(params) is not ActionParameterizationDefault or type(model.action_space) is not gym.spaces.Discrete:
        return None
    enc_layers, dec_layers = _mlp_layers(obs_encoder.mlp_head), _mlp_layers(decoder.mlp)
    if enc_layers is None or dec_layers is None:
        return None
    normalizer = model.obs_normalizer
    if type(normalizer) is not ObservationNormalizer or normalizer.sub_mean != 0.0 or normalizer.scale != 1.0:
        return None
    rms_dict = normalizer.running_mean_std
    rms = None
    if rms_dict is not None:
        if type(rms_dict) is not RunningMeanStdDictInPlace or list(rms_dict.running_mean_std.keys()) != ["obs"]:
            return None
        rms = rms_dict.running_mean_std["obs"]
    critic, dist_linear = model.critic_linear, params.distribution_linear
    layers = enc_layers + dec_layers

    def step(obs: dict[str, Tensor], rnn_states: Tensor) -> dict[str, Tensor]:
        if model.training or set(obs) != {"obs"}:  # train mode updates the normalizer: the model's own path
            return model(model.normalize_obs(obs), rnn_states)  # type: ignore[no-any-return]
        x = obs["obs"]
        if x.dtype != torch.float32:
            x = x.float()  # ObservationNormalizer: non-float inputs become float32 (a new tensor)
        elif rms is not None:
            x = x.clone()  # ObservationNormalizer never modifies the caller's tensor
        if rms is not None:
            x = rms.forward(x)
        x = x.reshape(x.shape[0], -1)  # MlpEncoder.forward (its .float() is a no-op here)
        for linear, act in layers:
            x = F.linear(x, linear.weight, linear.bias)
            if act is not None:
                x = act(x)
        values = F.linear(x, critic.weight, critic.bias).squeeze(-1)
        logits = F.linear(x, dist_linear.weight, dist_linear.bias)
        # CategoricalActionDistribution: log-softmax, Gumbel-max sample, log-prob of the sample
        log_probs = F.log_softmax(logits, dim=-1)
        noise = torch.empty_like(log_probs).exponential_().log_()
        actions = (log_probs - noise).argmax(dim=-1)
        return {
            "values": values,
            "action_logits": logits,
            "actions": actions,
            "log_prob_actions": log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1),
            "new_rnn_states": rnn_states,
        }

    return step
