"""Decoders: the `Decoder` base and the MLP decoder applied after the core (identity when no layers are given)."""

from __future__ import annotations

import torch

from sample_factory.model.model_utils import ModelModule, create_mlp, mlp_out_size, nonlinearity
from sample_factory.utils.typing import Config


class Decoder(ModelModule):
    """Base class of decoders: `forward(core_output) -> [B, get_out_size()]`."""


class MlpDecoder(Decoder):
    """`decoder_mlp_layers` fully connected layers (attribute `mlp`; an empty Sequential = identity)."""

    def __init__(self, cfg: Config, decoder_input_size: int):
        super().__init__(cfg)
        self.mlp = create_mlp(cfg.decoder_mlp_layers, decoder_input_size, nonlinearity(cfg))
        self.decoder_out_size = mlp_out_size(cfg.decoder_mlp_layers, decoder_input_size)

    def forward(self, core_output: torch.Tensor) -> torch.Tensor:
        return self.mlp(core_output)

    def get_out_size(self) -> int:
        return self.decoder_out_size


def default_make_decoder_func(cfg: Config, core_out_size: int) -> Decoder:
    return MlpDecoder(cfg, core_out_size)
