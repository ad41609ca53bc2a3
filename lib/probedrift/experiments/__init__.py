"""Functions that take a run's inputs and return its tables: the synthetic drift experiments,
monitors, separability, the probe baseline, real update drift and fine-tuning drift."""
