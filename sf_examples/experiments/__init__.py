"""Run descriptions for `python -m sample_factory.launcher.run --run=sf_examples.experiments.<module>`."""
