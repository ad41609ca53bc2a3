"""probedrift: do safety probes trained on frozen LLM embeddings survive embedding drift?

The library behind the study. Modules:

- :mod:`probedrift.data` -- embedded and hub datasets, balanced sampling, splits, fingerprints
- :mod:`probedrift.models` -- embedded GGUF models, hub ids and local model directories
- :mod:`probedrift.embed` -- layer-truncated hidden-state extraction with an on-disk cache
- :mod:`probedrift.probes` -- the paper's logistic-regression probe and its variants
- :mod:`probedrift.drift` -- synthetic drift on the unit sphere, with measured angles
- :mod:`probedrift.metrics` -- AUC, confidence, silent failure, calibration, intervals
- :mod:`probedrift.separability` -- silhouette, Fisher ratio, class overlap
- :mod:`probedrift.detectors` -- drift monitors with one fit/test interface
- :mod:`probedrift.updates` -- real update drift: precision, prompt format, truncation, layer, pooling, model swap
- :mod:`probedrift.align` -- anchor-based maps from new embeddings back to old ones (Procrustes, ridge)
- :mod:`probedrift.realdrift` -- the real-drift and mitigation tables
- :mod:`probedrift.study` -- the notebooks' steps; :mod:`probedrift.runner` runs them with papermill
- :mod:`probedrift.compare`, :mod:`probedrift.book` -- the paper-vs-study table and the Jupyter Book
- :mod:`probedrift.bench` -- the performance benchmark
"""

__version__ = "0.1.0"
