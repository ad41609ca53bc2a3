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
"""

__version__ = "0.1.0"
