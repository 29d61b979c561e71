"""Hugging Face Hub integration: push an experiment folder with a model card, or download one to evaluate it."""
