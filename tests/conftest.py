"""Shared pytest setup: one torch thread (the CI machine has 2 cores; more threads only add contention)."""

import torch

torch.set_num_threads(1)
