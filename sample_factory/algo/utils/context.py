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


def child_process_state(env_name: str) -> tuple[dict, SampleFactoryContext]:
    """What a user script registered in the main process that a spawned child needs: the factory of `env_name`
    (only that one: other registered factories need not be picklable) and the model factories."""
    from sample_factory.envs import env_utils

    registry = {env_name: env_utils._ENV_REGISTRY[env_name]} if env_name in env_utils._ENV_REGISTRY else {}
    return registry, sf_global_context()


def install_child_process_state(state: tuple[dict, SampleFactoryContext]) -> None:
    from sample_factory.envs import env_utils

    env_utils._ENV_REGISTRY.update(state[0])
    set_global_context(state[1])
