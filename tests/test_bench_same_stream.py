"""Tests of the same-stream benchmark's travel times and of one small run of our side."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import bench_same_stream as bss


@settings(max_examples=50, deadline=None)
@given(
    st.integers(0, 10**6),
    st.integers(2, 30),
    st.integers(0, 12),
    st.sampled_from(["square", "same", "to one point", "from one point"]),
)
def test_compiled_array_and_one_pair_look_ups_agree(seed: int, n: int, m: int, shape: str) -> None:
    """The compiled array paths, the numpy fallback and the one-pair path give the same seconds (arrays
    against arrays of the same length, broadcast against each other, or against one point either way)."""
    rng = np.random.default_rng(seed)
    tt = bss._LazyTravelTimes(rng.uniform(0.0, bss.SIDE_M, size=(n, 2)))
    if rng.random() < 0.5:  # a turning point too
        tt.turn_point(0, n - 1, int(rng.integers(0, 100)))
    k = tt.n
    a: Any = rng.integers(0, k, size=(m, 1) if shape == "square" else m)
    b: Any = rng.integers(0, k, size=m)
    if shape == "to one point":
        b = int(b[0]) if m else 0
    elif shape == "from one point":
        a, b = np.int64(rng.integers(0, k)), a
    got = tt.durations[a, b]
    one = np.vectorize(lambda x, y: int(tt.durations[int(x), int(y)]), otypes=[np.int64])
    want = one(*(np.array(x) for x in np.broadcast_arrays(a, b)))
    assert np.array_equal(got, want.reshape(got.shape))
    assert got.dtype == np.int64
    compiled = bss._ceil_lengths, bss._ceil_pairs
    bss._ceil_lengths = bss._ceil_pairs = None
    try:
        assert np.array_equal(tt.durations[a, b], got)
    finally:
        bss._ceil_lengths, bss._ceil_pairs = compiled


def test_a_look_up_outside_the_points_is_an_index_error() -> None:
    """An index past the points placed so far is refused, by either path."""
    tt = bss._LazyTravelTimes(np.zeros((3, 2)))
    with pytest.raises(IndexError):
        tt.durations[0, 3]
    with pytest.raises(IndexError):
        tt.durations[np.array([0, 1]), np.array([2, 3])]


@pytest.mark.parametrize("divert", [False, True])
def test_a_small_stream_is_served(divert: bool) -> None:
    """Ten vans and 150 requests: every accepted rider is delivered and the km follow the trails."""
    out = bss.run_ours(bss.make_stream(10, 150, 1), divert=divert)
    assert out.requests == 150
    assert 0 < out.accepted <= 150
    assert out.delivered == out.accepted
    assert 0 < out.km_per_rider < 2 * bss.SIDE_M * np.sqrt(2) / 1000


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 3_000))
def test_a_turning_point_lies_where_numpy_puts_it(seed: int, elapsed: int) -> None:
    """The turning point's coordinates are numpy's ``A + (B - A) * (elapsed / drive)``, bit for bit, in
    both copies of the points (the arrays and the floats of the one-pair path)."""
    rng = np.random.default_rng(seed)
    tt = bss._LazyTravelTimes(rng.uniform(0.0, bss.SIDE_M, size=(2, 2)))
    a, b = tt.xy[0].copy(), tt.xy[1].copy()
    drive = int(tt.durations[0, 1])
    got = tt.turn_point(0, 1, elapsed)
    if elapsed >= drive:
        assert got is None
        return
    assert got == (2, 0)
    want = a + (b - a) * (elapsed / drive)
    assert tt.xy[2].tolist() == want.tolist()
    assert [tt.xs[2], tt.ys[2]] == want.tolist()
