"""The actor-critic model: `ActorCritic` base, shared- and separate-weights variants, and `create_actor_critic`.

forward = forward_head (normalized obs -> features) -> forward_core (features, rnn_states) -> forward_tail (values,
logits, actions). Module attribute names (hence state-dict keys) match upstream Sample Factory 2.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from sample_factory.model.action_distributions import ActionDistribution, masked_logits
from sample_factory.model.action_parameterization import make_action_parameterization
from sample_factory.model.core import CoreInput
from sample_factory.model.model_factory import ModelFactory, global_model_factory
from sample_factory.model.model_utils import get_rnn_size, initialize_weights
from sample_factory.model.running_mean_std import ObservationNormalizer, RunningMeanStdInPlace
from sample_factory.utils.typing import ActionSpace, Config, ObsSpace

__all__ = [
    "ActorCritic",
    "ActorCriticSeparateWeights",
    "ActorCriticSharedWeights",
    "create_actor_critic",
    "default_make_actor_critic_func",
    "get_rnn_size",
    "obs_space_without_action_mask",
]


class ActorCritic(nn.Module):
    """Base class: observation/return normalizers, action sampling and the forward pipeline.

    Subclasses build `encoder(s)`, `core(s)`, `decoder(s)`, `critic_linear` and `action_parameterization` and
    implement `forward_head`, `forward_core` and `forward_tail`.
    """

    def __init__(self, obs_space: ObsSpace, action_space: ActionSpace, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.obs_space = obs_space
        self.action_space = action_space
        self.encoders: list[Any] = []  # plain list (not registered): used for device/dtype queries
        self.obs_normalizer = ObservationNormalizer(obs_space, cfg)  # type: ignore[arg-type]
        self.returns_normalizer: RunningMeanStdInPlace | None = None
        if cfg.normalize_returns:
            self.returns_normalizer = RunningMeanStdInPlace((1,))
        self.last_action_distribution: ActionDistribution | None = None
        self.action_parameterization: Any = None  # set by subclasses

    # ---- devices and dtypes the sampler should use for each observation key
    def model_to_device(self, device: torch.device | str) -> None:
        self.to(device)
        for encoder in self.encoders:
            if hasattr(encoder, "model_to_device"):
                encoder.model_to_device(device)

    def device_for_input_tensor(self, input_tensor_name: str) -> torch.device:
        return self.encoders[0].device_for_input_tensor(input_tensor_name)

    def type_for_input_tensor(self, input_tensor_name: str) -> torch.dtype:
        return self.encoders[0].type_for_input_tensor(input_tensor_name)

    def get_action_parameterization(self, decoder_output_size: int) -> nn.Module:
        """The action head for this model's action space (for custom subclasses, as upstream)."""
        return make_action_parameterization(self.cfg, decoder_output_size, self.action_space)

    def initialize_weights(self) -> None:
        """Re-initialise Linear/Conv2d layers per `policy_initialization` and `policy_init_gain` (RNNs untouched)."""
        initialize_weights(self, self.cfg)

    # ---- normalization and stats
    def normalize_obs(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A new dict of float tensors: obs_subtract_mean/obs_scale on "obs", then running normalization."""
        return self.obs_normalizer(obs)

    def summaries(self) -> dict[str, float]:
        stats = dict(self.obs_normalizer.summaries())
        if self.returns_normalizer is not None:
            mean, std = self.returns_normalizer.summaries()
            stats["returns_running_mean"], stats["returns_running_std"] = mean, std
        return stats

    def action_distribution(self) -> ActionDistribution | None:
        """The distribution computed by the last `forward_tail` that produced logits."""
        return self.last_action_distribution

    # ---- forward pipeline
    def forward_head(self, normalized_obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def forward_core(self, head_output: CoreInput, rnn_states: torch.Tensor) -> tuple[CoreInput, torch.Tensor]:
        raise NotImplementedError

    def forward_tail(
        self,
        core_output: torch.Tensor,
        values_only: bool,
        sample_actions: bool,
        action_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _tail_result(
        self,
        values: torch.Tensor,
        actor_decoder_output: torch.Tensor | None,
        sample_actions: bool,
        action_mask: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        result = {"values": values.squeeze(-1)}
        if actor_decoder_output is None:
            return result
        action_logits, distribution = self.action_parameterization(actor_decoder_output, action_mask)
        self.last_action_distribution = distribution
        # with a mask, the stored logits are the masked ones, so the learner can rebuild pi_old without the mask
        result["action_logits"] = masked_logits(self.action_space, action_logits, action_mask)
        if sample_actions:
            actions = distribution.sample()
            result["actions"] = actions
            result["log_prob_actions"] = distribution.log_prob(actions)
        return result

    def forward(
        self,
        normalized_obs_dict: dict[str, torch.Tensor],
        rnn_states: torch.Tensor,
        values_only: bool = False,
        action_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """One step: returns `values` [B], `action_logits`, `actions`, `log_prob_actions` [B], `new_rnn_states`.

        `action_mask` defaults to `normalized_obs_dict["action_mask"]` when that key is present.
        """
        if action_mask is None and "action_mask" in normalized_obs_dict:
            action_mask = normalized_obs_dict["action_mask"]
        head_output = self.forward_head(normalized_obs_dict)
        x, new_rnn_states = self.forward_core(head_output, rnn_states)
        # custom subclasses written for upstream have no action_mask argument: pass it only when there is one
        mask_kwargs: dict[str, Any] = {} if action_mask is None else {"action_mask": action_mask}
        result = self.forward_tail(x, values_only, sample_actions=True, **mask_kwargs)  # type: ignore[arg-type]
        result["new_rnn_states"] = new_rnn_states
        return result


def _split_features(x: CoreInput, sizes: list[int]) -> list[CoreInput]:
    if isinstance(x, PackedSequence):
        return [PackedSequence(d, x.batch_sizes, x.sorted_indices, x.unsorted_indices) for d in x.data.split(sizes, 1)]
    return list(x.split(sizes, dim=1))


def _cat_features(parts: list[CoreInput]) -> CoreInput:
    first = parts[0]
    if isinstance(first, PackedSequence):
        data = torch.cat([p.data for p in parts], dim=1)  # type: ignore[union-attr]
        return PackedSequence(data, first.batch_sizes, first.sorted_indices, first.unsorted_indices)
    return torch.cat(parts, dim=1)  # type: ignore[arg-type]


class ActorCriticSharedWeights(ActorCritic):
    """One `encoder`, `core` and `decoder` shared by the policy head and the value head (`critic_linear`)."""

    def __init__(self, model_factory: ModelFactory, obs_space: ObsSpace, action_space: ActionSpace, cfg: Config):
        super().__init__(obs_space, action_space, cfg)
        self.encoder = model_factory.make_model_encoder_func(cfg, obs_space)
        self.encoders = [self.encoder]
        self.core = model_factory.make_model_core_func(cfg, self.encoder.get_out_size())
        self.decoder = model_factory.make_model_decoder_func(cfg, self.core.get_out_size())
        decoder_out_size = self.decoder.get_out_size()
        self.critic_linear = nn.Linear(decoder_out_size, 1)
        self.action_parameterization = self.get_action_parameterization(decoder_out_size)
        self.initialize_weights()

    def forward_head(self, normalized_obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(normalized_obs_dict)

    def forward_core(self, head_output: CoreInput, rnn_states: torch.Tensor) -> tuple[CoreInput, torch.Tensor]:
        return self.core(head_output, rnn_states)

    def forward_tail(
        self,
        core_output: torch.Tensor,
        values_only: bool,
        sample_actions: bool,
        action_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        decoder_output = self.decoder(core_output)
        values = self.critic_linear(decoder_output)
        return self._tail_result(values, None if values_only else decoder_output, sample_actions, action_mask)


class ActorCriticSeparateWeights(ActorCritic):
    """Separate `actor_*` and `critic_*` encoders, cores and decoders; the rnn state is [actor half, critic half]."""

    def __init__(self, model_factory: ModelFactory, obs_space: ObsSpace, action_space: ActionSpace, cfg: Config):
        super().__init__(obs_space, action_space, cfg)
        self.actor_encoder = model_factory.make_model_encoder_func(cfg, obs_space)
        self.actor_core = model_factory.make_model_core_func(cfg, self.actor_encoder.get_out_size())
        self.actor_decoder = model_factory.make_model_decoder_func(cfg, self.actor_core.get_out_size())
        self.critic_encoder = model_factory.make_model_encoder_func(cfg, obs_space)
        self.critic_core = model_factory.make_model_core_func(cfg, self.critic_encoder.get_out_size())
        self.critic_decoder = model_factory.make_model_decoder_func(cfg, self.critic_core.get_out_size())
        self.encoders = [self.actor_encoder, self.critic_encoder]
        self.critic_linear = nn.Linear(self.critic_decoder.get_out_size(), 1)
        self.action_parameterization = self.get_action_parameterization(self.actor_decoder.get_out_size())
        self.initialize_weights()

    def forward_head(self, normalized_obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([self.actor_encoder(normalized_obs_dict), self.critic_encoder(normalized_obs_dict)], dim=1)

    def forward_core(self, head_output: CoreInput, rnn_states: torch.Tensor) -> tuple[CoreInput, torch.Tensor]:
        sizes = [self.actor_encoder.get_out_size(), self.critic_encoder.get_out_size()]
        actor_head, critic_head = _split_features(head_output, sizes)
        actor_states, critic_states = rnn_states.chunk(2, dim=1)
        actor_out, new_actor_states = self.actor_core(actor_head, actor_states)
        critic_out, new_critic_states = self.critic_core(critic_head, critic_states)
        return _cat_features([actor_out, critic_out]), torch.cat([new_actor_states, new_critic_states], dim=1)

    def forward_tail(
        self,
        core_output: torch.Tensor,
        values_only: bool,
        sample_actions: bool,
        action_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        sizes = [self.actor_core.get_out_size(), self.critic_core.get_out_size()]
        actor_core_out, critic_core_out = core_output.split(sizes, dim=1)
        values = self.critic_linear(self.critic_decoder(critic_core_out))
        actor_out = None if values_only else self.actor_decoder(actor_core_out)
        return self._tail_result(values, actor_out, sample_actions, action_mask)


def obs_space_without_action_mask(obs_space: gym.Space) -> gym.spaces.Dict:
    """The model's observation space: a Dict (plain spaces become {"obs": space}) without the `action_mask` key."""
    if not isinstance(obs_space, gym.spaces.Dict):
        return gym.spaces.Dict({"obs": obs_space})
    if "action_mask" not in obs_space.spaces:
        return obs_space
    return gym.spaces.Dict({k: v for k, v in obs_space.spaces.items() if k != "action_mask"})


def default_make_actor_critic_func(cfg: Config, obs_space: ObsSpace, action_space: ActionSpace) -> ActorCritic:
    """The built-in model: shared or separate weights per `cfg.actor_critic_share_weights`."""
    model_factory = global_model_factory()
    if cfg.actor_critic_share_weights:
        return ActorCriticSharedWeights(model_factory, obs_space, action_space, cfg)
    return ActorCriticSeparateWeights(model_factory, obs_space, action_space, cfg)


def create_actor_critic(cfg: Config, obs_space: ObsSpace, action_space: ActionSpace) -> ActorCritic:
    """Build the model with the global model factory; the `action_mask` obs key is removed (masks go to forward)."""
    obs_space = obs_space_without_action_mask(obs_space)
    make_func = global_model_factory().make_actor_critic_func or default_make_actor_critic_func
    return make_func(cfg, obs_space, action_space)
