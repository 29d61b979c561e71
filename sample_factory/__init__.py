"""Sample Factory: high-throughput asynchronous PPO (APPO) with the Sample Factory 2 command-line interface."""

__version__ = "3.0.0.dev0"
