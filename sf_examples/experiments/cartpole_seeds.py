"""CartPole-v1 with 4 seeds: a run description for the launcher.

    python -m sample_factory.launcher.run --run=sf_examples.experiments.cartpole_seeds --backend=processes \
        --max_parallel=2 --pause_between=1 --experiments_per_gpu=-1 --num_gpus=1
"""

from sample_factory.launcher.launcher_utils import seeds
from sample_factory.launcher.run_description import Experiment, ParamGrid, RunDescription

_params = ParamGrid([("seed", seeds(4))])

_experiments = [
    Experiment(
        "cartpole",
        "python -m sf_examples.train_gym_env --env=CartPole-v1 --train_for_env_steps=200000 --device=cpu "
        "--num_workers=2 --use_rnn=False",
        _params.generate_params(randomize=False),
    ),
]

RUN_DESCRIPTION = RunDescription("cartpole_seeds", experiments=_experiments)
