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
    """Every kernel of the diversion pre-filter gives, compiled, exactly the answers of its Python source,
    and the drop-off test those of a one-vehicle-at-a-time reference."""
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
    tested = k.turn_tests(*args2)
    assert tested.tolist() == tk.turn_tests(*args2).tolist()
    points = rng.integers(0, 3_000, size=m, dtype=np.int64)
    compiled, source = k.turn_look_ups(legs, idx, points, p), tk.turn_look_ups(legs, idx, points, p)
    for got_k, want in zip(compiled, source, strict=True):
        assert got_k.tolist() == want.tolist()
    # the fleet's routes: 1-4 nodes each, some not usable
    sizes = rng.integers(1, 5, size=n)
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    loc = rng.integers(0, 3_000, size=int(off[-1]), dtype=np.int64)
    travel = rng.integers(0, 900, size=int(off[-1]), dtype=np.int64)
    usable = rng.random(n) < 0.8
    has_end = rng.random(n) < 0.3
    d = int(rng.integers(0, 3_000))
    tested = rng.integers(0, 3, size=m).astype(np.int8)  # every answer, whatever the random times gave
    look = (legs, idx, tested, loc, off, usable, p, d)
    rows_k, cols_k = k.drop_off_look_ups(*look)
    rows_p, cols_p = tk.drop_off_look_ups(*look)
    assert rows_k.tolist() == rows_p.tolist()
    assert cols_k.tolist() == cols_p.tolist()
    drop = rng.integers(0, 1_500, size=len(rows_k), dtype=np.int64)
    args3 = (idx, tested, got4, off, usable, travel, has_end, drop, bound)
    answers = k.drop_off_tests(*args3).tolist()
    assert answers == tk.drop_off_tests(*args3).tolist()
    # the same test one vehicle at a time, with whole-array operations as first written
    want, pos, c = [], 0, 0
    total = int(len(drop) - 2 * sum(1 for j in range(m) if tested[j] == tk.FITS and usable[idx[j]])) // 2
    n_checked = (len(drop) - 2 * total) // 2
    for j in range(m):
        i = int(idx[j])
        if tested[j] != tk.FITS or not usable[i]:
            want.append(bool(tested[j] != tk.NO))
            continue
        lo, hi = int(off[i]), int(off[i + 1])
        to_d, from_d = drop[pos : pos + hi - lo], drop[total + pos : total + pos + hi - lo]
        pos += hi - lo
        last = 0 if has_end[i] else int(to_d[-1])
        between = to_d[:-1] + from_d[1:] - travel[lo : hi - 1]
        later = min(int(between.min()), last) if hi - lo > 1 else last
        p_d, d_b = int(drop[2 * total + c]), int(drop[2 * total + n_checked + c])
        c += 1
        p_b, detour = int(got4[m + j]), int(got4[j] + got4[m + j] - got4[2 * m + j])
        want.append(min(p_d + d_b - p_b, later) + detour < bound)
    assert answers == want


def test_a_leg_column_puts_each_fact_in_its_row() -> None:
    """``column`` writes each fact of a leg to the row the kernels read it from."""
    col = tk.column(
        origin=1, stop=2, base=3, since=4, drive=5, start=6, retime=True, early=8, late=9, service=10
    )
    rows = (tk.FROM, tk.TO, tk.BASE, tk.SINCE, tk.DRIVE, tk.START, tk.RETIME, tk.EARLY, tk.LATE, tk.SERVICE)
    assert [col[r] for r in rows] == [1, 2, 3, 4, 5, 6, 1, 8, 9, 10]
    assert len(col) == tk.ROWS
