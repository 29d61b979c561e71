"""`ModelFactory`: the registry of encoder/core/decoder/actor-critic builders, and the process-global instance.

User scripts reach it as `sample_factory.algo.utils.context.global_model_factory()` (a re-export of this module).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sample_factory.model.core import default_make_core_func
from sample_factory.model.decoder import default_make_decoder_func
from sample_factory.model.encoder import default_make_encoder_func

MakeEncoderFunc = Callable[[Any, Any], Any]  # (cfg, obs_space) -> Encoder
MakeCoreFunc = Callable[[Any, int], Any]  # (cfg, input_size) -> ModelCore
MakeDecoderFunc = Callable[[Any, int], Any]  # (cfg, input_size) -> Decoder
MakeActorCriticFunc = Callable[[Any, Any, Any], Any]  # (cfg, obs_space, action_space) -> ActorCritic


class ModelFactory:
    """Builders used by `create_actor_critic`; `make_actor_critic_func=None` means the built-in actor-critic."""

    def __init__(self) -> None:
        self.make_model_encoder_func: MakeEncoderFunc = default_make_encoder_func
        self.make_model_core_func: MakeCoreFunc = default_make_core_func
        self.make_model_decoder_func: MakeDecoderFunc = default_make_decoder_func
        self.make_actor_critic_func: MakeActorCriticFunc | None = None

    def register_encoder_factory(self, make_encoder_func: MakeEncoderFunc) -> None:
        """`make_encoder_func(cfg, obs_space) -> Encoder`; obs_space is a Dict without the `action_mask` key."""
        self.make_model_encoder_func = make_encoder_func

    def register_model_core_factory(self, make_model_core_func: MakeCoreFunc) -> None:
        """`make_model_core_func(cfg, input_size) -> ModelCore`."""
        self.make_model_core_func = make_model_core_func

    def register_decoder_factory(self, make_decoder_func: MakeDecoderFunc) -> None:
        """`make_decoder_func(cfg, input_size) -> Decoder`."""
        self.make_model_decoder_func = make_decoder_func

    def register_actor_critic_factory(self, make_actor_critic_func: MakeActorCriticFunc) -> None:
        """`make_actor_critic_func(cfg, obs_space, action_space) -> ActorCritic` replaces the whole model."""
        self.make_actor_critic_func = make_actor_critic_func


class SampleFactoryContext:
    """Process-global state a user script configures before training (today: the model factory).

    It is picklable when the registered builders are module-level functions, so a parallel runner can hand it to
    spawned processes with `set_global_context`.
    """

    def __init__(self) -> None:
        self.model_factory = ModelFactory()


_GLOBAL_CONTEXT: SampleFactoryContext | None = None


def sf_global_context() -> SampleFactoryContext:
    global _GLOBAL_CONTEXT
    if _GLOBAL_CONTEXT is None:
        _GLOBAL_CONTEXT = SampleFactoryContext()
    return _GLOBAL_CONTEXT


def set_global_context(ctx: SampleFactoryContext) -> None:
    global _GLOBAL_CONTEXT
    _GLOBAL_CONTEXT = ctx


def reset_global_context() -> None:
    """Forget registered model builders (tests call this between cases)."""
    set_global_context(SampleFactoryContext())


def global_model_factory() -> ModelFactory:
    return sf_global_context().model_factory
