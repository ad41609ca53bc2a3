"""probedrift: do safety probes trained on frozen LLM embeddings survive embedding drift?

The library behind the study, one subpackage per role, from the ground floor up:

- :mod:`probedrift.core` -- errors, the registry style, sphere geometry, intervals, σ grids, the cache
- :mod:`probedrift.inputs` -- datasets, models, the one path to embeddings, the instruction corpus, fine-tuning
- :mod:`probedrift.science` -- the paper's probe, drift formulas and the sweep, metrics, cliffs, the drift
  budget, separability, monitors, alignment
- :mod:`probedrift.experiments` -- functions of a run (:class:`~probedrift.experiments.context.RunContext`)
  that return its tables
- :mod:`probedrift.report` -- the paper's numbers and claims, verdicts, findings, chapter summaries, figures
- :mod:`probedrift.run` -- parameters, the run object and its table catalogue, the runner, the book, the CLI
- :mod:`probedrift.bench` -- the performance benchmark

The README's layout table lists every module with one line.
"""

__version__ = "0.1.0"
