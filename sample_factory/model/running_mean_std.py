"""Running mean/std normalizers kept as float64 model buffers (saved in checkpoints), and the observation normalizer.

The statistics are merged with the parallel (Chan et al.) form of Welford's update, only in train mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import torch
from torch import nn

from sample_factory.utils.typing import Config

_NORM_EPS = 1e-5
_DEFAULT_CLIP = 5.0


def update_mean_var_count(
    mean: torch.Tensor,
    var: torch.Tensor,
    count: torch.Tensor,
    batch_mean: torch.Tensor,
    batch_var: torch.Tensor,
    batch_count: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Merge (mean, var, count) with a batch's population statistics (Chan et al. 1979). Pure function."""
    delta = batch_mean - mean
    tot_count = count + batch_count
    new_mean = mean + delta * (batch_count / tot_count)
    m2 = var * count + batch_var * batch_count + delta.square() * (count * batch_count / tot_count)
    return new_mean, m2 / tot_count, tot_count


class RunningMeanStdInPlace(nn.Module):
    running_mean: torch.Tensor
    running_var: torch.Tensor
    count: torch.Tensor

    """Normalizes tensors whose trailing dims equal `input_shape` by running statistics, in place.

    Buffers (float64): `running_mean` and `running_var` of shape `input_shape`, `count` of shape [1] (starts at 1).
    `forward(x)` updates the statistics (train mode only), then returns x with `x <- clip((x - mean) / sqrt(var + eps))`
    written in place; `forward(x, denormalize=True)` applies the inverse `clip(x) * sqrt(var + eps) + mean` in place.
    Batch variances are population variances, so the running stats equal numpy's mean/var of all data seen.
    """

    def __init__(self, input_shape: Sequence[int], epsilon: float = _NORM_EPS, clip: float = _DEFAULT_CLIP):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.eps = epsilon
        self.clip = clip
        self.register_buffer("running_mean", torch.zeros(self.input_shape, dtype=torch.float64))
        self.register_buffer("running_var", torch.ones(self.input_shape, dtype=torch.float64))
        self.register_buffer("count", torch.ones([1], dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge the statistics of a batch `x` of shape [..., *input_shape] into the running ones."""
        batch = x.detach().reshape(-1, *self.input_shape).to(torch.float64)
        if batch.shape[0] == 0:
            return
        batch_mean = batch.mean(dim=0)
        batch_var = batch.var(dim=0, unbiased=False)
        mean, var, count = update_mean_var_count(
            self.running_mean, self.running_var, self.count, batch_mean, batch_var, batch.shape[0]
        )
        self.running_mean.copy_(mean)
        self.running_var.copy_(var)
        self.count.copy_(count)

    def forward(self, x: torch.Tensor, denormalize: bool = False) -> torch.Tensor:
        if self.training and not denormalize:
            self.update(x)
        mean = self.running_mean.to(x.dtype)
        std = torch.sqrt(self.running_var + self.eps).to(x.dtype)
        with torch.no_grad():
            if denormalize:
                x.clamp_(-self.clip, self.clip).mul_(std).add_(mean)  # as upstream: clip in normalized space
            else:
                x.sub_(mean).div_(std).clamp_(-self.clip, self.clip)
        return x

    def summaries(self) -> tuple[float, float]:
        """Mean over elements of the running mean and of the running std."""
        return self.running_mean.mean().item(), self.running_var.sqrt().mean().item()


class RunningMeanStdDictInPlace(nn.Module):
    running_mean_std: Any

    """One `RunningMeanStdInPlace` per observation key (attribute `running_mean_std`, a ModuleDict).

    `keys_to_normalize=None` normalizes every key of `obs_space`; `forward(obs_dict)` normalizes those keys in place.
    """

    def __init__(
        self,
        obs_space: gym.spaces.Dict,
        keys_to_normalize: Sequence[str] | None = None,
        epsilon: float = _NORM_EPS,
        clip: float = _DEFAULT_CLIP,
    ):
        super().__init__()
        keys = list(obs_space.spaces.keys()) if keys_to_normalize is None else list(keys_to_normalize)
        unknown = [k for k in keys if k not in obs_space.spaces]
        if unknown:
            raise ValueError(f"--normalize_input_keys {unknown} are not observation keys {list(obs_space.spaces)}")
        self.running_mean_std = nn.ModuleDict(
            {k: RunningMeanStdInPlace(obs_space[k].shape or (), epsilon, clip) for k in sorted(keys)}
        )

    def forward(self, obs_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        for key, rms in self.running_mean_std.items():
            if key in obs_dict:
                rms(obs_dict[key])
        return obs_dict


class ObservationNormalizer(nn.Module):
    """`obs_subtract_mean`/`obs_scale` on the "obs" key, then running normalization of the chosen keys.

    Never modifies the caller's tensors: every key it touches is converted to float32 (or cloned). uint8 inputs of
    untouched keys are converted to float32 as well. The `action_mask` key passes through unchanged.
    Attribute `running_mean_std` is a `RunningMeanStdDictInPlace`, or None when `normalize_input` is False.
    """

    def __init__(self, obs_space: gym.spaces.Dict, cfg: Config):
        super().__init__()
        self.sub_mean = float(cfg.obs_subtract_mean)
        self.scale = float(cfg.obs_scale)
        self.running_mean_std: RunningMeanStdDictInPlace | None = None
        if cfg.normalize_input:
            self.running_mean_std = RunningMeanStdDictInPlace(obs_space, cfg.normalize_input_keys)

    def _touched_keys(self) -> set[str]:
        keys = set(self.running_mean_std.running_mean_std.keys()) if self.running_mean_std is not None else set()
        if self.sub_mean != 0.0 or self.scale != 1.0:
            keys.add("obs")
        return keys

    def forward(self, obs_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        touched = self._touched_keys()
        out: dict[str, torch.Tensor] = {}
        for key, value in obs_dict.items():
            if key == "action_mask" or not isinstance(value, torch.Tensor):
                out[key] = value
            elif value.dtype != torch.float32 and (key in touched or value.dtype == torch.uint8):
                out[key] = value.float()  # a new tensor, safe to modify in place
            elif key in touched:
                out[key] = value.clone()
            else:
                out[key] = value
        if "obs" in out and "obs" in touched:
            if self.sub_mean != 0.0:
                out["obs"].sub_(self.sub_mean)
            if self.scale != 1.0:
                out["obs"].mul_(1.0 / self.scale)
        if self.running_mean_std is not None:
            self.running_mean_std(out)
        return out

    def summaries(self) -> dict[str, float]:
        if self.running_mean_std is None or len(self.running_mean_std.running_mean_std) == 0:
            return {}
        stats = [rms.summaries() for rms in self.running_mean_std.running_mean_std.values()]
        return {
            "obs_running_mean": sum(s[0] for s in stats) / len(stats),
            "obs_running_std": sum(s[1] for s in stats) / len(stats),
        }
