"""The compiled diversion pre-filter (``ondemand.dispatch._turn_kernel``) answers as its Python source."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ondemand.dispatch import _turn_kernel as tk

pytest.importorskip("numba", reason="compares the compiled kernels with their Python source")


def _legs(rng: np.random.Generator, n: int) -> np.ndarray:
    legs = rng.integers(0, 3_000, size=(tk.ROWS, n), dtype=np.int64)
    legs[tk.FROM] = np.where(rng.random(n) < 0.3, -1, legs[tk.FROM])
    legs[tk.RETIME] = rng.integers(0, 2, size=n)
    legs[tk.LATE] = legs[tk.EARLY] + rng.integers(0, 2_000, size=n)
    return legs


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 40),
    st.booleans(),
    st.booleans(),
    st.sampled_from([math.inf, 300.0, 40.5]),
)
def test_compiled_turn_filter_equals_its_python_source(
    seed: int, n: int, slack: bool, use_bound: bool, bound: float
) -> None:
    """Every kernel of the diversion pre-filter gives, compiled, exactly the answers of its Python source."""
    rng = np.random.default_rng(seed)
    k = tk.kernels()
    legs = _legs(rng, n)
    p = int(rng.integers(0, 3_000))
    idx, rows, cols = k.candidate_look_ups(legs, p)
    idx_py, rows_py, cols_py = tk.candidate_look_ups(legs, p)
    assert idx.tolist() == idx_py.tolist() == np.flatnonzero(legs[tk.FROM] >= 0).tolist()
    assert rows.tolist() == rows_py.tolist()
    assert cols.tolist() == cols_py.tolist()
    got = rng.integers(0, 1_500, size=len(rows), dtype=np.int64)
    start = rng.integers(0, 3_000, size=n, dtype=np.int64)
    room = rng.integers(0, 1_000, size=n, dtype=np.int64)
    now, ep = int(rng.integers(0, 2_000)), int(rng.integers(0, 2_500))
    lp, ps = ep + int(rng.integers(0, 1_200)), int(rng.integers(0, 60))
    args = (legs, idx, got, now, ep, lp, ps, slack, start, room, use_bound, bound)
    assert k.keep_candidates(*args).tolist() == tk.keep_candidates(*args).tolist()
    m = len(idx)
    ats = rng.integers(0, 3_000, size=m, dtype=np.int64)
    got4 = rng.integers(0, 1_500, size=4 * m, dtype=np.int64)
    cost = rng.integers(0, 1_500, size=3 * m, dtype=np.int64)
    args2 = (legs, idx, ats, got4, cost, ep, lp, ps, slack, start, room, bound)
    assert k.turn_tests(*args2).tolist() == tk.turn_tests(*args2).tolist()


def test_a_leg_column_puts_each_fact_in_its_row() -> None:
    """``column`` writes each fact of a leg to the row the kernels read it from."""
    col = tk.column(
        origin=1, stop=2, base=3, since=4, drive=5, start=6, retime=True, early=8, late=9, service=10
    )
    rows = (tk.FROM, tk.TO, tk.BASE, tk.SINCE, tk.DRIVE, tk.START, tk.RETIME, tk.EARLY, tk.LATE, tk.SERVICE)
    assert [col[r] for r in rows] == [1, 2, 3, 4, 5, 6, 1, 8, 9, 10]
    assert len(col) == tk.ROWS
