"""Export a trained policy to ONNX: `export_onnx(cfg, path) -> 0`.

Inputs: one per observation key (+ `rnn_states` with an RNN, + `action_mask` when the env gives one). Outputs:
`output_actions` (+ `output_rnn_states`). The batch axis is dynamic, for recurrent models too (their state is an
input). With --eval_deterministic actions are argmax/means, else sampled inside the graph.
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import nn

from sample_factory.algo.utils.env_info import EnvInfo, obtain_env_info
from sample_factory.algo.utils.misc import ExperimentStatus
from sample_factory.enjoy import EvalError, load_eval_cfg, load_policy
from sample_factory.model.action_distributions import (
    CategoricalActionDistribution,
    ContinuousActionDistribution,
    TupleActionDistribution,
)
from sample_factory.model.actor_critic import ActorCritic
from sample_factory.model.model_utils import get_rnn_size
from sample_factory.utils.typing import Config, StatusCode
from sample_factory.utils.utils import log

__all__ = ["OnnxPolicy", "export_onnx", "onnx_input_names", "sample_exportable"]


def sample_exportable(distribution: object) -> torch.Tensor:
    """A sample drawn with ops ONNX has (RandomUniformLike / RandomNormalLike), in the action-buffer format."""
    if isinstance(distribution, CategoricalActionDistribution):
        u = torch.rand_like(distribution.log_probs).clamp(1e-10, 1.0 - 1e-7)
        return (distribution.log_probs - torch.log(-torch.log(u))).argmax(dim=-1)  # Gumbel-max
    if isinstance(distribution, ContinuousActionDistribution):
        return distribution.means + distribution.stddevs * torch.randn_like(distribution.means)
    if isinstance(distribution, TupleActionDistribution):
        dtype = torch.int64 if distribution.integer_actions else torch.float32
        parts = [sample_exportable(p) for p in distribution.parts]
        return torch.cat([p.reshape(p.shape[0], -1).to(dtype) for p in parts], dim=1)
    raise TypeError(f"Cannot export sampling from {type(distribution).__name__}")


class OnnxPolicy(nn.Module):
    """Positional-input wrapper: (obs keys..., [rnn_states], [action_mask]) -> actions[, new rnn states]."""

    def __init__(self, model: ActorCritic, obs_keys: list[str], use_rnn: bool, has_mask: bool, deterministic: bool):
        super().__init__()
        self.model = model
        self.obs_keys = obs_keys
        self.use_rnn = use_rnn
        self.has_mask = has_mask
        self.deterministic = deterministic
        self.rnn_size = get_rnn_size(model.cfg)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        n = len(self.obs_keys)
        obs = dict(zip(self.obs_keys, inputs[:n]))
        rnn_states = inputs[n] if self.use_rnn else None
        mask = inputs[-1] if self.has_mask else None
        first = inputs[0]
        if rnn_states is None:  # feed-forward models ignore the (dummy) state
            rnn_states = first.new_zeros((first.shape[0], self.rnn_size), dtype=torch.float32)
        normalized = self.model.normalize_obs(obs)
        head = self.model.forward_head(normalized)
        core_out, new_rnn_states = self.model.forward_core(head, rnn_states)
        kwargs = {} if mask is None else {"action_mask": mask}
        self.model.forward_tail(core_out, values_only=False, sample_actions=False, **kwargs)  # type: ignore[arg-type]
        dist = self.model.action_distribution()
        assert dist is not None  # set by forward_tail
        actions = dist.argmax() if self.deterministic else sample_exportable(dist)
        if self.use_rnn:
            return actions, new_rnn_states
        return actions


def onnx_input_names(env_info: EnvInfo, use_rnn: bool) -> list[str]:
    """Observation keys (action_mask excluded), then `rnn_states` and `action_mask` when present."""
    keys = [k for k in env_info.obs_space.spaces if k != "action_mask"]
    names = list(keys)
    if use_rnn:
        names.append("rnn_states")
    if "action_mask" in env_info.obs_space.spaces:
        names.append("action_mask")
    return names


def _dummy_inputs(env_info: EnvInfo, names: list[str], rnn_size: int, batch: int) -> tuple[torch.Tensor, ...]:
    out = []
    for name in names:
        if name == "rnn_states":
            out.append(torch.zeros((batch, rnn_size), dtype=torch.float32))
            continue
        space = env_info.obs_space[name]
        sample = torch.as_tensor(space.sample())
        dtype = torch.float32 if sample.dtype == torch.float64 else sample.dtype
        if name == "action_mask":
            out.append(torch.ones((batch, *tuple(sample.shape)), dtype=dtype))
        else:
            out.append(torch.stack([torch.as_tensor(space.sample()).to(dtype) for _ in range(batch)]))
    return tuple(out)


def export_onnx(cfg: Config, path: str) -> StatusCode:
    """Write the policy `--policy_index` of the experiment to `path` as ONNX; 0 on success, 1 (one line) on bad input."""
    try:
        cfg = load_eval_cfg(cfg)
        env_info = obtain_env_info(cfg)
        model, _ckpt = load_policy(cfg, env_info, "cpu")
    except EvalError as exc:
        log.error("%s", exc)
        return ExperimentStatus.FAILURE
    use_rnn = bool(cfg.use_rnn)
    names = onnx_input_names(env_info, use_rnn)
    obs_keys = [n for n in names if n not in ("rnn_states", "action_mask")]
    wrapper = OnnxPolicy(model, obs_keys, use_rnn, "action_mask" in names, bool(cfg.eval_deterministic)).eval()
    outputs = ["output_actions"] + (["output_rnn_states"] if use_rnn else [])
    dummy = _dummy_inputs(env_info, names, get_rnn_size(cfg), batch=2)
    dynamic_axes = {name: {0: "batch_size"} for name in names + outputs}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # the legacy exporter's deprecation notice, tracer notes on RNN shape checks, and its batch-size advice for
        # RNNs (which applies to models with internal initial states; ours are inputs, so any batch size works)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            dummy,
            path,
            input_names=names,
            output_names=outputs,
            dynamic_axes=dynamic_axes,
            opset_version=17,
            dynamo=False,
        )
    log.info("Exported policy %d of %s to %s (inputs %s)", cfg.policy_index, cfg.experiment, path, names)
    return ExperimentStatus.SUCCESS
