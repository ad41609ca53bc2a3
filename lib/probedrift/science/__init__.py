"""The methods, free of any run: the paper's probe, drift formulas and the sweep engine, metric
kernels, cross-fitting, cliffs, the drift budget, separability, monitors and alignment maps."""
