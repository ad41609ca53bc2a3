"""The ground floor: errors, the one registry style, geometry on the unit sphere, interval statistics,
σ grids, the on-disk cache and atomic writes, BLAS threads and stage timing. Imports nothing above it."""
