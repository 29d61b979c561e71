"""Recurrent training (BPTT) over recurrence-length chunks with hidden-state resets at episode ends.

Layout: N = B*T/recurrence chunks of `recurrence` steps; flat row n*recurrence + t is step t of chunk n (so a
trajectory-major [B, T] batch with T divisible by recurrence is already in this order). Each chunk is cut into
segments after every `done` step; a segment starting a chunk begins from the stored state of that chunk, any other
segment begins from zeros (a new episode). All segments run through the core as one PackedSequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import PackedSequence

CoreFn = Callable[[torch.Tensor | PackedSequence, torch.Tensor], tuple[torch.Tensor | PackedSequence, torch.Tensor]]


@dataclass
class RnnSeqIndex:
    """Where each flat step landed in the packed data: `packed.data[data_idx[i]]` belongs to flat step i."""

    data_idx: torch.Tensor


def build_rnn_inputs(
    x: torch.Tensor, dones: torch.Tensor, rnn_states: torch.Tensor, recurrence: int
) -> tuple[PackedSequence, torch.Tensor, RnnSeqIndex]:
    """Pack `x` [N*recurrence, F] into segments split at dones and chunk boundaries.

    dones: N*recurrence bools in the same flat order (any shape, e.g. [B, T]); True = the episode ended after
    that step. rnn_states: [N, H], the state before the first step of each chunk.
    Returns (packed input, initial states [S, H] in segment order, index to restore the flat order).
    """
    total = x.shape[0]
    if recurrence < 1 or total % recurrence != 0:
        raise ValueError(f"{total} steps do not split into chunks of recurrence={recurrence}")
    num_chunks = total // recurrence
    if rnn_states.shape[0] != num_chunks:
        raise ValueError(
            f"Expected {num_chunks} chunk-start rnn states ({total}/{recurrence}), got {rnn_states.shape[0]}"
        )
    device = x.device
    dones = dones.reshape(num_chunks, recurrence).to(device=device, dtype=torch.bool)

    starts = torch.zeros_like(dones)
    starts[:, 0] = True
    starts[:, 1:] = dones[:, :-1]
    starts = starts.reshape(-1)
    seq_id = starts.long().cumsum(0) - 1  # segment of each step, segments numbered in flat order
    start_idx = starts.nonzero().squeeze(1)  # [S] flat index of each segment's first step
    num_seqs = start_idx.shape[0]
    pos = torch.arange(total, device=device) - start_idx[seq_id]  # position of each step inside its segment
    lengths = torch.bincount(seq_id, minlength=num_seqs)

    # PackedSequence layout: time-major, at time p the segments longer than p in order of decreasing length
    sorted_lengths, sorted_indices = torch.sort(lengths, descending=True, stable=True)
    rank = torch.empty_like(sorted_indices)
    rank[sorted_indices] = torch.arange(num_seqs, device=device)
    lengths_cpu = sorted_lengths.cpu()
    max_len = int(lengths_cpu[0])
    batch_sizes = (lengths_cpu.unsqueeze(0) > torch.arange(max_len).unsqueeze(1)).sum(dim=1)  # [max_len] on CPU
    time_offsets = torch.cumsum(batch_sizes, 0) - batch_sizes
    data_idx = time_offsets.to(device)[pos] + rank[seq_id]

    data = torch.empty_like(x)
    data[data_idx] = x
    packed = PackedSequence(data, batch_sizes, sorted_indices, rank)

    init_states = torch.zeros((num_seqs, *rnn_states.shape[1:]), dtype=rnn_states.dtype, device=device)
    chunk_start = start_idx % recurrence == 0
    init_states[chunk_start] = rnn_states[start_idx[chunk_start] // recurrence].to(device)
    return packed, init_states, RnnSeqIndex(data_idx)


def build_core_out_from_seq(core_out: torch.Tensor | PackedSequence, index: RnnSeqIndex) -> torch.Tensor:
    """The core output of the packed segments back in flat step order, [N*recurrence, out]."""
    data = core_out.data if isinstance(core_out, PackedSequence) else core_out
    return data[index.data_idx]


def run_core_bptt(
    core: CoreFn, head_out: torch.Tensor, rnn_states: torch.Tensor, dones: torch.Tensor, recurrence: int
) -> torch.Tensor:
    """Run `core` over chunks with BPTT; returns core outputs [N*recurrence, out] in the flat order of `head_out`.

    core: `(x, rnn_states) -> (out, new_states)` accepting a PackedSequence, e.g. `actor_critic.forward_core`.
    head_out: [N*recurrence, F]; rnn_states: [N, H] stored states at chunk starts (e.g. `rnn_states[:, ::recurrence]`
    of a [B, T, H] batch, flattened); dones: N*recurrence bools, True = episode ended after that step, so the next
    step of the chunk starts from a zero state. Equivalent to stepping the core one step at a time with those resets.
    """
    if recurrence == 1:
        out, _ = core(head_out, rnn_states)
        return out  # type: ignore[return-value]
    packed, init_states, index = build_rnn_inputs(head_out, dones, rnn_states, recurrence)
    core_out, _ = core(packed, init_states)
    return build_core_out_from_seq(core_out, index)
