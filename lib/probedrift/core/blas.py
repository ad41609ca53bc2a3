"""One BLAS thread for latency-bound linear algebra.

Small products and factorisations (a 256 × 256 Cholesky, a 640 × 64 QR, ARPACK's matrix-vector
products) gain nothing from BLAS threads, and on a busy machine their synchronisation dominates: a
640 × 64 QR took 6 ms on one thread and 0.8 s on two contended ones; a C2ST's five 256 × 256
Cholesky solves went from 10 ms to seconds. Loops of such calls run inside :func:`one_blas_thread`.
"""

from __future__ import annotations

import functools

from threadpoolctl import ThreadpoolController


@functools.lru_cache(maxsize=1)
def _blas_controller():
    return ThreadpoolController()


def one_blas_thread():
    """Context manager limiting BLAS/LAPACK to one thread for the calls inside it (threadpoolctl)."""
    return _blas_controller().limit(limits=1, user_api="blas")
