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
    legs[tk.REPORTED] = rng.integers(0, 2, size=n)
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
    and those of a one-vehicle-at-a-time reference (the routes' slack read at each route's first node,
    the drop-off's detour only for vehicles that fit, its look-ups for every vehicle with a feasible
    route)."""
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
    # the fleet's routes: 1-4 nodes each, some not usable (their slack is never read), each in its run of
    # the node arrays as a search index lays them out: in any order, with unused nodes between them
    sizes = rng.integers(1, 5, size=n)
    lo = np.empty(n, dtype=np.int64)
    nodes = 0
    for i in rng.permutation(n).tolist():
        nodes += int(rng.integers(0, 3))
        lo[i] = nodes
        nodes += int(sizes[i])
    hi = lo + sizes
    nodes += int(rng.integers(0, 3))
    loc = rng.integers(0, 3_000, size=nodes, dtype=np.int64)
    travel = rng.integers(0, 900, size=nodes, dtype=np.int64)
    start = rng.integers(0, 3_000, size=nodes, dtype=np.int64)
    room = rng.integers(0, 1_000, size=nodes, dtype=np.int64)
    usable = rng.random(n) < 0.8
    has_end = rng.random(n) < 0.3
    now, ep = int(rng.integers(0, 2_000)), int(rng.integers(0, 2_500))
    lp, ps = ep + int(rng.integers(0, 1_200)), int(rng.integers(0, 60))
    args = (legs, idx, got, now, ep, lp, ps, slack, start, room, lo, hi, usable, use_bound, bound)
    kept = k.keep_candidates(*args).tolist()
    assert kept == tk.keep_candidates(*args).tolist()
    # the slack read node 0 of each route, as whole-array operations first read it
    first_start = start[lo]
    first_room = np.where(usable, room[lo], np.iinfo(np.int64).max // 4)
    want_kept = []
    for j, i in enumerate(idx.tolist()):
        m = len(idx)
        a_p, p_b, b_p = int(got[j]), int(got[m + j]), int(got[2 * m + j])
        elapsed = int(legs[tk.BASE, i]) + max(0, now - int(legs[tk.SINCE, i]))
        at_p = now + a_p - elapsed - 1
        at_b = max(max(at_p, ep) + ps + p_b, int(legs[tk.EARLY, i]))
        keep = at_p <= lp and at_b <= legs[tk.LATE, i]
        if slack and at_b + legs[tk.SERVICE, i] - first_start[i] > first_room[i]:
            keep = False
        early = now + legs[tk.DRIVE, i] - elapsed < legs[tk.START, i]
        after = legs[tk.START, i] + legs[tk.SERVICE, i] + b_p <= lp
        keep = keep or early or bool(legs[tk.RETIME, i] and after)
        if use_bound and not a_p + p_b - legs[tk.DRIVE, i] - 2 < bound:
            keep = False
        if keep:
            want_kept.append(i)
    assert kept == want_kept
    # the vehicles that can turn: not past their leg's end, the wait counted from now after a report
    inputs = [x.tolist() for x in k.turn_inputs(legs, idx, now)]
    assert inputs == [x.tolist() for x in tk.turn_inputs(legs, idx, now)]
    want_inputs: list[tuple[int, ...]] = []
    for i in idx.tolist():
        reported = bool(legs[tk.REPORTED, i])
        elapsed = int(legs[tk.BASE, i]) + max(0, now - int(legs[tk.SINCE, i]))
        if legs[tk.FROM, i] >= 0 and elapsed < legs[tk.DRIVE, i]:
            base = now if reported else max(now, int(legs[tk.SINCE, i]))
            want_inputs.append((i, int(legs[tk.FROM, i]), int(legs[tk.TO, i]), elapsed, base))
    assert list(zip(*inputs, strict=True)) == want_inputs
    m = len(idx)
    ats = rng.integers(0, 3_000, size=m, dtype=np.int64)
    points = rng.integers(0, 3_000, size=m, dtype=np.int64)
    d = int(rng.integers(0, 3_000))
    with_drop = bool(rng.random() < 0.7)
    look = (legs, idx, points, p, d, loc, lo, hi, usable, with_drop)
    compiled, source = k.turn_look_ups(*look), tk.turn_look_ups(*look)
    for got_k, want in zip(compiled, source, strict=True):
        assert got_k.tolist() == want.tolist()
    rows4, cols4 = compiled
    assert rows4[:m].tolist() == points.tolist()
    assert cols4[:m].tolist() == [p] * m
    assert cols4[m : 2 * m].tolist() == legs[tk.TO, idx].tolist()
    got4 = rng.integers(0, 1_500, size=len(rows4), dtype=np.int64)
    cost = rng.integers(0, 1_500, size=3 * m, dtype=np.int64) if rng.random() < 0.5 else got4
    args2 = (
        legs,
        idx,
        ats,
        got4,
        cost,
        ep,
        lp,
        ps,
        slack,
        start,
        room,
        lo,
        hi,
        usable,
        bound,
        with_drop,
        travel,
        has_end,
    )
    answers = k.turn_tests(*args2).tolist()
    assert answers == tk.turn_tests(*args2).tolist()
    # the same tests one vehicle at a time, with whole-array operations as first written
    want, pos = [], 4 * m
    checked = [j for j in range(m) if with_drop and usable[idx[j]]]
    total = sum(int(hi[idx[j]] - lo[idx[j]]) for j in checked)
    c = 4 * m + 2 * total
    for j in range(m):
        i = int(idx[j])
        pp, p_b, point_b, b_p = (int(got4[j + x * m]) for x in range(4))
        if not cost[j] + cost[m + j] - cost[2 * m + j] < bound:
            answer = tk.NO
        elif ats[j] + point_b < legs[tk.START, i] or (
            legs[tk.RETIME, i] and legs[tk.START, i] + legs[tk.SERVICE, i] + b_p <= lp
        ):
            answer = tk.SURE
        else:
            at_p = int(ats[j]) + pp
            at_b = max(max(at_p, ep) + ps + p_b, int(legs[tk.EARLY, i]))
            fits = at_p <= lp and at_b <= legs[tk.LATE, i]
            if slack and at_b + legs[tk.SERVICE, i] - first_start[i] > first_room[i]:
                fits = False
            answer = tk.FITS if fits else tk.NO
        if j not in checked:
            want.append(answer != tk.NO)
            continue
        first, end = int(lo[i]), int(hi[i])
        to_d, from_d = got4[pos : pos + end - first], got4[total + pos : total + pos + end - first]
        pos += end - first
        p_d, d_b = int(got4[c]), int(got4[c + len(checked)])
        c += 1
        if answer != tk.FITS:
            want.append(answer != tk.NO)
            continue
        last = 0 if has_end[i] else int(to_d[-1])
        between = to_d[:-1] + from_d[1:] - travel[first : end - 1]
        later = min(int(between.min()), last) if end - first > 1 else last
        want.append(min(p_d + d_b - p_b, later) + pp + p_b - point_b < bound)
    assert answers == want
    if with_drop:  # the drop-off's look-ups: each checked vehicle's nodes to d, d to them, then p-d, d-B
        nodes_of = [x for j in checked for x in range(int(lo[idx[j]]), int(hi[idx[j]]))]
        assert rows4[4 * m : 4 * m + total].tolist() == loc[nodes_of].tolist()
        assert cols4[4 * m + total : 4 * m + 2 * total].tolist() == loc[nodes_of].tolist()
        assert rows4[c - len(checked) : c].tolist() == [p] * len(checked)
        assert cols4[c : c + len(checked)].tolist() == legs[tk.TO, idx[checked]].tolist()


def test_a_leg_column_puts_each_fact_in_its_row() -> None:
    """``column`` writes each fact of a leg to the row the kernels read it from."""
    col = tk.column(
        origin=1,
        stop=2,
        base=3,
        since=4,
        drive=5,
        start=6,
        retime=True,
        early=8,
        late=9,
        service=10,
        reported=True,
    )
    rows = (tk.FROM, tk.TO, tk.BASE, tk.SINCE, tk.DRIVE, tk.START, tk.RETIME, tk.EARLY, tk.LATE, tk.SERVICE)
    rows = (*rows, tk.REPORTED)
    assert [col[r] for r in rows] == [1, 2, 3, 4, 5, 6, 1, 8, 9, 10, 1]
    assert len(col) == tk.ROWS
