"""Small building blocks shared by the model parts: activations, MLPs, weight init, sizes and devices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from sample_factory.utils.typing import Config


def nonlinearity(cfg: Config, inplace: bool = False) -> nn.Module:
    """The activation named by `cfg.nonlinearity` (elu, relu or tanh)."""
    name = cfg.nonlinearity
    if name == "elu":
        return nn.ELU(inplace=inplace)
    if name == "relu":
        return nn.ReLU(inplace=inplace)
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"Unknown --nonlinearity={name!r}: use one of elu, relu, tanh")


def create_mlp(layer_sizes: Sequence[int], input_size: int, activation: nn.Module) -> nn.Sequential:
    """`Linear, activation` pairs for each size in `layer_sizes` (an empty list gives an identity `nn.Sequential`)."""
    layers: list[nn.Module] = []
    for size in layer_sizes:
        layers.extend([nn.Linear(input_size, size), activation])
        input_size = size
    return nn.Sequential(*layers)


def mlp_out_size(layer_sizes: Sequence[int], input_size: int) -> int:
    return int(layer_sizes[-1]) if len(layer_sizes) > 0 else int(input_size)


def calc_num_elements(module: nn.Module, module_input_shape: Sequence[int]) -> int:
    """Number of output features per sample of `module` for one input of shape `module_input_shape`."""
    device = model_device(module)
    with torch.no_grad():
        out = module(torch.zeros((1, *module_input_shape), device=device))
    return int(out.numel())


def model_device(model: nn.Module) -> torch.device:
    """The device of the first parameter (or buffer) of `model`; CPU for a module without tensors."""
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def fc_after_encoder_size(cfg: Config) -> int:
    """Width custom encoders conventionally use for their last fully connected layer (the core's size)."""
    return int(cfg.rnn_size)


def get_rnn_size(cfg: Config) -> int:
    """Width of the flat per-agent core state vector stored in the trajectory buffers.

    rnn_size * rnn_num_layers with an RNN (else 1), x2 for LSTM (h and c; also without RNN, as upstream), x2 when the
    actor and critic have separate weights (two cores).
    """
    size = cfg.rnn_size * cfg.rnn_num_layers if cfg.use_rnn else 1
    if cfg.rnn_type == "lstm":
        size *= 2
    if not cfg.actor_critic_share_weights:
        size *= 2
    return size


def init_layer(layer: nn.Module, policy_initialization: str, gain: float) -> None:
    """Initialise one Linear/Conv2d: weights by `policy_initialization` with `gain`, biases to 0. Others untouched."""
    if not isinstance(layer, nn.Linear | nn.Conv2d):
        return
    if policy_initialization == "orthogonal":
        nn.init.orthogonal_(layer.weight.data, gain=gain)
    elif policy_initialization == "xavier_uniform":
        nn.init.xavier_uniform_(layer.weight.data, gain=gain)
    elif policy_initialization == "torch_default":
        return  # keep torch's own init, biases included
    else:
        raise ValueError(
            f"Unknown --policy_initialization={policy_initialization!r}: use orthogonal, xavier_uniform or torch_default"
        )
    if layer.bias is not None:
        layer.bias.data.fill_(0.0)


def initialize_weights(model: nn.Module, cfg: Config) -> None:
    """Apply `init_layer` with `cfg.policy_initialization` / `cfg.policy_init_gain` to every submodule of `model`."""
    gain = float(cfg.policy_init_gain)
    model.apply(lambda m: init_layer(m, cfg.policy_initialization, gain))


def default_gain(name: str) -> float:
    """Recommended init gain for an activation name (handy for custom models)."""
    return math.sqrt(2.0) if name == "relu" else 1.0


class ModelModule(nn.Module):
    """Base of the model parts: keeps `cfg` and reports its output width with `get_out_size()`."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg

    def get_out_size(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement get_out_size()")

    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")
