"""Re-export of the action distributions, which live in the model layer (`sample_factory.model`)."""

from sample_factory.model.action_distributions import *  # noqa: F403
from sample_factory.model.action_distributions import (  # noqa: F401
    argmax_actions,
    calc_num_action_logits,
    calc_num_action_parameters,
    calc_num_actions,
    get_action_distribution,
    is_continuous_action_space,
    sample_actions_log_probs,
)
