"""Model cores: the `ModelCore` base, GRU/LSTM (`ModelCoreRNN`) and identity cores.

State layout (one flat vector per sample, as stored in the trajectory buffers): [B, num_layers * H] for GRU and
[B, num_layers * 2H] for LSTM, where each layer's block is cat(h, c).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from sample_factory.model.model_utils import ModelModule
from sample_factory.utils.typing import Config

CoreInput = torch.Tensor | PackedSequence


class ModelCore(ModelModule):
    """Base class of cores: `forward(x, rnn_states) -> (out, new_rnn_states)`."""

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.core_output_size = -1

    def get_out_size(self) -> int:
        return self.core_output_size


class ModelCoreRNN(ModelCore):
    """A GRU or LSTM with `cfg.rnn_num_layers` layers (attribute `core`).

    `x` is [B, input_size] for a single step, or a PackedSequence (BPTT in the learner, see
    `sample_factory.algo.learning.rnn_utils`); `rnn_states` is [B, state size] either way, and so is the new state.
    """

    def __init__(self, cfg: Config, input_size: int):
        super().__init__(cfg)
        self.is_gru = cfg.rnn_type == "gru"
        if cfg.rnn_type not in ("gru", "lstm"):
            raise ValueError(f"Unknown --rnn_type={cfg.rnn_type!r}: use gru or lstm")
        self.rnn_size = int(cfg.rnn_size)
        self.num_layers = int(cfg.rnn_num_layers)
        rnn_cls = nn.GRU if self.is_gru else nn.LSTM
        self.core = rnn_cls(input_size, self.rnn_size, self.num_layers)
        self.core_output_size = self.rnn_size

    def forward(self, head_output: CoreInput, rnn_states: torch.Tensor) -> tuple[CoreInput, torch.Tensor]:
        is_seq = isinstance(head_output, PackedSequence)
        if isinstance(head_output, torch.Tensor):
            head_output = head_output.unsqueeze(0)  # [1, B, F]: one time step
        batch = rnn_states.shape[0]
        states = rnn_states.reshape(batch, self.num_layers, -1).transpose(0, 1)  # [L, B, H or 2H]
        if self.is_gru:
            x, new_states = self.core(head_output, states.contiguous())
        else:
            h, c = torch.split(states, self.rnn_size, dim=2)
            x, (h, c) = self.core(head_output, (h.contiguous(), c.contiguous()))
            new_states = torch.cat((h, c), dim=2)
        if not is_seq:
            x = x.squeeze(0)  # type: ignore[union-attr]
        return x, new_states.transpose(0, 1).reshape(batch, -1)


class ModelCoreIdentity(ModelCore):
    """No memory: returns its input, and the (fake) rnn states unchanged."""

    def __init__(self, cfg: Config, input_size: int):
        super().__init__(cfg)
        self.core_output_size = input_size

    def forward(self, head_output: CoreInput, fake_rnn_states: torch.Tensor) -> tuple[CoreInput, torch.Tensor]:
        return head_output, fake_rnn_states


def default_make_core_func(cfg: Config, core_input_size: int) -> ModelCore:
    """`ModelCoreRNN` when `cfg.use_rnn`, else `ModelCoreIdentity`."""
    if cfg.use_rnn:
        return ModelCoreRNN(cfg, core_input_size)
    return ModelCoreIdentity(cfg, core_input_size)
