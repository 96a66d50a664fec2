"""Tiles of P x P arrays: each temporary a fixed, small share of the matrix, at any P.

A fixed tile of 2,048 rows is the whole matrix below P = 2,048 and 2 % of it at P = 10^5. A share of P keeps the
temporaries of the Hessian's assembly and of its readers at the same fraction of the matrix in every profile, so
the memory measured at small P (tests/test_memory.py) is the memory at the `paper` profile's P.
"""

from __future__ import annotations

PARTS = 16  # row tiles per matrix: a float64 copy of one is 1/8 of a float32 matrix


def tile(n: int, parts: int = PARTS) -> int:
    """Rows (or columns) per tile when ``n`` of them are cut into ``parts`` tiles (at least one)."""
    return max(-(-n // parts), 1)
