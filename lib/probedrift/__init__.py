"""probedrift: do safety probes trained on frozen LLM embeddings survive embedding drift?

The library behind the study. Modules:

- :mod:`probedrift.inputs.data` -- embedded and hub datasets, balanced sampling, splits, fingerprints
- :mod:`probedrift.inputs.models` -- embedded GGUF models, hub ids and local model directories
- :mod:`probedrift.inputs.embed` -- layer-truncated hidden-state extraction with an on-disk cache
- :mod:`probedrift.science.probes` -- the paper's logistic-regression probe and its variants
- :mod:`probedrift.science.drift` -- synthetic drift on the unit sphere, with measured angles
- :mod:`probedrift.science.metrics` -- AUC, confidence, silent failure, calibration, intervals
- :mod:`probedrift.science.separability` -- silhouette, Fisher ratio, class overlap
- :mod:`probedrift.science.detectors` -- drift monitors with one fit/test interface
- :mod:`probedrift.experiments.updates` -- real update drift: precision, prompt format, truncation, layer, pooling,
  model swap
- :mod:`probedrift.science.align` -- anchor-based maps from new embeddings back to old ones (Procrustes, ridge)
- :mod:`probedrift.experiments.realdrift` -- the real-drift and mitigation tables
- :mod:`probedrift.run.study` -- the notebooks' steps; :mod:`probedrift.run.runner` runs them with papermill
- :mod:`probedrift.report.compare`, :mod:`probedrift.run.book` -- the paper-vs-study table and the Jupyter Book
- :mod:`probedrift.bench` -- the performance benchmark
"""

__version__ = "0.1.0"
