"""Documented import path for the global model factory; the implementation lives in `sample_factory.model`."""

from sample_factory.model.model_factory import (
    ModelFactory,
    SampleFactoryContext,
    global_model_factory,
    reset_global_context,
    set_global_context,
    sf_global_context,
)

__all__ = [
    "ModelFactory",
    "SampleFactoryContext",
    "global_model_factory",
    "reset_global_context",
    "set_global_context",
    "sf_global_context",
]
