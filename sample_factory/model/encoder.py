"""Observation encoders: the `Encoder` base, MLP and conv/ResNet encoders, and `MultiInputEncoder` for dict obs.

Keys of the built-in modules follow upstream Sample Factory 2, so its checkpoints load here.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import torch
from torch import nn

from sample_factory.model.model_utils import (
    ModelModule,
    calc_num_elements,
    create_mlp,
    mlp_out_size,
    model_device,
    nonlinearity,
)
from sample_factory.utils.typing import Config

# [in_channels, out_channels, kernel, stride] per conv layer (interface.md 4.5); "C" stands for the input channels
CONV_FILTERS: dict[str, list[list]] = {
    "convnet_simple": [["C", 32, 8, 4], [32, 64, 4, 2], [64, 128, 3, 2]],
    "convnet_impala": [["C", 16, 8, 4], [16, 32, 4, 2]],
    "convnet_atari": [["C", 32, 8, 4], [32, 64, 4, 2], [64, 64, 3, 1]],
}
RESNET_IMPALA_STAGES: list[tuple[int, int]] = [(16, 2), (32, 2), (32, 2)]  # (channels, residual blocks)


class Encoder(ModelModule):
    """Base class of encoders: `forward(obs_dict) -> [B, get_out_size()]`.

    Subclasses may override `device_for_input_tensor`/`type_for_input_tensor` to ask the sampler for a different
    device or dtype per observation key, and `model_to_device` for custom placement.
    """

    def __init__(self, cfg: Config):
        super().__init__(cfg)

    def get_out_size(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement get_out_size()")

    def device_for_input_tensor(self, input_tensor_name: str) -> torch.device:
        return model_device(self)

    def type_for_input_tensor(self, input_tensor_name: str) -> torch.dtype:
        return torch.float32

    def model_to_device(self, device: torch.device | str) -> None:
        self.to(device)


def _flat_size(space: gym.Space) -> int:
    return int(math.prod(space.shape or ()))


class MlpEncoder(Encoder):
    """`encoder_mlp_layers` fully connected layers (attribute `mlp_head`) over a 1-D observation tensor."""

    def __init__(self, cfg: Config, obs_space: gym.Space):
        super().__init__(cfg)
        input_size = _flat_size(obs_space)
        self.mlp_head = create_mlp(cfg.encoder_mlp_layers, input_size, nonlinearity(cfg))
        self.encoder_out_size = mlp_out_size(cfg.encoder_mlp_layers, input_size)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mlp_head(obs.reshape(obs.shape[0], -1).float())

    def get_out_size(self) -> int:
        return self.encoder_out_size


def _image_shape(obs_space: gym.Space) -> tuple[int, int, int]:
    shape = tuple(obs_space.shape or ())
    if len(shape) == 2:
        return (1, shape[0], shape[1])  # a single-channel image without the channel axis
    if len(shape) != 3:
        raise ValueError(f"Conv encoders need (C, H, W) observations, got shape {shape}")
    return shape  # type: ignore[return-value]


def _as_image_batch(obs: torch.Tensor, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """[B, C, H, W] floats; on the CPU in channels-last memory layout (the same logical tensor): torch's CPU
    convolutions (oneDNN) run ~20% faster on it for the Atari encoder, forward and backward."""
    if not obs.is_floating_point():
        obs = obs.float()
    obs = obs.reshape(obs.shape[0], *image_shape)
    if obs.device.type == "cpu":
        obs = obs.contiguous(memory_format=torch.channels_last)
    return obs


class ConvEncoderImpl(nn.Module):
    """Conv layers (`conv_head`: Conv2d, activation, ...) followed by `mlp_layers` on the flattened output."""

    def __init__(self, obs_shape: tuple[int, ...], conv_filters: list[list], extra_mlp_layers: list[int], activation):
        super().__init__()
        layers: list[nn.Module] = []
        for in_ch, out_ch, kernel, stride in conv_filters:
            layers.extend([nn.Conv2d(in_ch, out_ch, kernel, stride=stride), activation])
        self.conv_head = nn.Sequential(*layers)
        self.conv_head_out_size = calc_num_elements(self.conv_head, obs_shape)
        self.mlp_layers = create_mlp(extra_mlp_layers, self.conv_head_out_size, activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.conv_head(obs)
        x = x.reshape(-1, self.conv_head_out_size)
        return self.mlp_layers(x)


class ConvEncoder(Encoder):
    """One of `convnet_simple`, `convnet_impala`, `convnet_atari` (attribute `enc`, a `ConvEncoderImpl`)."""

    def __init__(self, cfg: Config, obs_space: gym.Space):
        super().__init__(cfg)
        arch = cfg.encoder_conv_architecture
        if arch not in CONV_FILTERS:
            raise ValueError(f"Unknown conv architecture {arch!r}: use one of {list(CONV_FILTERS)} or resnet_impala")
        self.image_shape = _image_shape(obs_space)
        filters = [[self.image_shape[0] if v == "C" else v for v in layer] for layer in CONV_FILTERS[arch]]
        self.enc = ConvEncoderImpl(self.image_shape, filters, list(cfg.encoder_conv_mlp_layers), nonlinearity(cfg))
        self.encoder_out_size = calc_num_elements(self.enc, self.image_shape)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.enc(_as_image_batch(obs, self.image_shape))

    def get_out_size(self) -> int:
        return self.encoder_out_size


class ResBlock(nn.Module):
    """x + conv3(act(conv3(act(x)))) (IMPALA residual block; attribute `res_block_core`)."""

    def __init__(self, cfg: Config, input_ch: int, output_ch: int):
        super().__init__()
        self.res_block_core = nn.Sequential(
            nonlinearity(cfg),
            nn.Conv2d(input_ch, output_ch, kernel_size=3, stride=1, padding=1),
            nonlinearity(cfg),
            nn.Conv2d(output_ch, output_ch, kernel_size=3, stride=1, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_block_core(x)


class ResnetEncoder(Encoder):
    """IMPALA ResNet (Espeholt et al. 2018): per stage conv3 + maxpool3/s2 + 2 residual blocks; stages 16/32/32."""

    def __init__(self, cfg: Config, obs_space: gym.Space):
        super().__init__(cfg)
        self.image_shape = _image_shape(obs_space)
        in_ch = self.image_shape[0]
        layers: list[nn.Module] = []
        for out_ch, num_blocks in RESNET_IMPALA_STAGES:
            layers.append(nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=1, padding=1))
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
            layers.extend(ResBlock(cfg, out_ch, out_ch) for _ in range(num_blocks))
            in_ch = out_ch
        layers.append(nonlinearity(cfg))
        self.conv_head = nn.Sequential(*layers)
        self.conv_head_out_size = calc_num_elements(self.conv_head, self.image_shape)
        self.mlp_layers = create_mlp(cfg.encoder_conv_mlp_layers, self.conv_head_out_size, nonlinearity(cfg))
        self.encoder_out_size = mlp_out_size(cfg.encoder_conv_mlp_layers, self.conv_head_out_size)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.conv_head(_as_image_batch(obs, self.image_shape))
        return self.mlp_layers(x.reshape(-1, self.conv_head_out_size))

    def get_out_size(self) -> int:
        return self.encoder_out_size


def make_img_encoder(cfg: Config, obs_space: gym.Space) -> Encoder:
    """The image encoder chosen by `cfg.encoder_conv_architecture` for one (C, H, W) Box; it takes a tensor."""
    if cfg.encoder_conv_architecture == "resnet_impala":
        return ResnetEncoder(cfg, obs_space)
    return ConvEncoder(cfg, obs_space)


class MultiInputEncoder(Encoder):
    """One encoder per observation key (sorted; attribute `encoders`), outputs concatenated in key order.

    1-D keys get an `MlpEncoder`, keys with 2 or more dims get `make_img_encoder`.
    """

    def __init__(self, cfg: Config, obs_space: gym.spaces.Dict):
        super().__init__(cfg)
        if not isinstance(obs_space, gym.spaces.Dict):
            raise TypeError(f"MultiInputEncoder expects a gymnasium Dict observation space, got {obs_space}")
        self.obs_keys = sorted(obs_space.spaces.keys())
        encoders: dict[str, Encoder] = {}
        for key in self.obs_keys:
            shape = obs_space[key].shape
            if shape is None or len(shape) == 0:
                raise ValueError(f"Observation key {key!r} has no array shape ({obs_space[key]}): use a Box space")
            encoders[key] = (
                MlpEncoder(cfg, obs_space[key]) if len(shape) == 1 else make_img_encoder(cfg, obs_space[key])
            )
        self.encoders: Any = nn.ModuleDict(encoders)
        self.encoder_out_size = sum(e.get_out_size() for e in encoders.values())

    def forward(self, obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        if len(self.obs_keys) == 1:
            key = self.obs_keys[0]
            return self.encoders[key](obs_dict[key])
        return torch.cat([self.encoders[k](obs_dict[k]) for k in self.obs_keys], dim=1)

    def get_out_size(self) -> int:
        return self.encoder_out_size


def default_make_encoder_func(cfg: Config, obs_space: gym.spaces.Dict) -> Encoder:
    """The built-in encoder for a Dict observation space (a `MultiInputEncoder`)."""
    return MultiInputEncoder(cfg, obs_space)
