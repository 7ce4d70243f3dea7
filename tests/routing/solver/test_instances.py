"""Tests of the benchmark-instance readers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ondemand.errors import InstanceFormatError
from ondemand.routing.solver.instances import (
    CORDEAU_BKS,
    best_known,
    read_instance,
    resolve_instance_set,
)

PR_TEXT = """2 4 480 3 30
0 0.0 0.0 0 0 0 480
1 1.0 0.0 3 1 0 1440
2 2.0 1.0 3 1 60 75
3 5.0 0.0 3 -1 40 55
4 0.0 5.0 3 -1 0 1440
"""


def test_reads_every_ab_file(bench_dir: Path) -> None:
    """All 48 a/b files read with K, n, Q, L, T from the name/README and node n+i pairing."""
    files = resolve_instance_set("ab", bench_dir)
    assert len(files) == 48
    for f in files:
        inst = read_instance(f)
        k, n = (int(x) for x in inst.name[1:].split("-"))
        assert inst.format == "cordeau"
        assert (inst.num_vehicles, inst.num_requests) == (k, n)
        assert inst.capacity == (3 if inst.name[0] == "a" else 6)
        assert inst.max_ride == (30 if inst.name[0] == "a" else 45)
        assert inst.end_depot == 2 * n + 1
        assert inst.pairs[0] == (1, n + 1)
        assert inst.name in CORDEAU_BKS
        core = inst.to_core()
        for r in core.requests:
            assert r.earliest_pickup <= r.latest_pickup
            assert r.earliest_dropoff <= r.latest_dropoff


def test_core_travel_times_round_up(bench_dir: Path) -> None:
    """Integer travel times are ceil(euclid * scale): never shorter than the real ones."""
    inst = read_instance(bench_dir / "cordeau2006" / "a2-16.txt")
    core = inst.to_core(1000)
    eu = inst.euclid() * 1000
    assert (core.tt.durations >= eu - 1e-6).all()
    assert (core.tt.durations <= eu + 1).all()
    assert core.scale == 1000


def test_window_tightening_outbound(bench_dir: Path) -> None:
    """Cordeau's tightening: an outbound pickup window is cut by the drop-off window and L."""
    inst = read_instance(bench_dir / "cordeau2006" / "a2-16.txt")
    core = inst.to_core(1000)
    r = core.requests[0]  # node 1: [0, 1440] pickup; node 17: [402, 417] drop-off
    assert (inst.earliest[17], inst.latest[17]) == (402, 417)
    assert r.earliest_pickup == (402 - 30 - 3) * 1000
    t = int(core.tt.durations[1, 17])
    assert r.latest_pickup == 417 * 1000 - t - 3000


def test_reads_lilim_with_explicit_siblings(bench_dir: Path) -> None:
    """Li & Lim pairs come from the sibling columns, and the SINTEF best-known is found."""
    inst = read_instance(bench_dir / "lilim" / "100" / "lc101.txt")
    assert inst.format == "lilim"
    assert inst.max_ride is None
    assert inst.end_depot == 0
    assert 2 * inst.num_requests == inst.num_nodes - 1
    assert (3, 75) in inst.pairs  # line "3 42 66 10 65 146 90 0 75"
    for p, d in inst.pairs:
        assert inst.load[p] == -inst.load[d] > 0
    assert best_known(inst, bench_dir) == (10, 828.9369)


def test_all_lilim_files_read(bench_dir: Path) -> None:
    """All 56 Li & Lim 100 files read and convert to the core."""
    files = resolve_instance_set("lilim", bench_dir)
    assert len(files) == 56
    for f in files:
        inst = read_instance(f)
        assert len(inst.to_core().requests) == inst.num_requests


def test_format_detected_from_content(bench_dir: Path, tmp_path: Path) -> None:
    """A Cordeau file named like a Li & Lim file is still read as Cordeau."""
    dst = tmp_path / "lc101.txt"
    shutil.copy(bench_dir / "cordeau2006" / "a2-16.txt", dst)
    assert read_instance(dst).format == "cordeau"


def test_reads_pr_layout(tmp_path: Path) -> None:
    """pr files: header counts nodes (2n), 2n+1 node lines, routes end at node 0."""
    f = tmp_path / "pr00.txt"
    f.write_text(PR_TEXT)
    inst = read_instance(f)
    assert inst.format == "pr"
    assert inst.num_requests == 2
    assert inst.pairs == ((1, 3), (2, 4))
    assert inst.end_depot == 0
    assert inst.max_route_duration == 480
    core = inst.to_core(10)
    assert core.vehicles[0].end == 0
    assert np.array_equal(core.tt.durations, core.tt.durations.T)


def test_reads_pr_layout_with_destination_depot(tmp_path: Path) -> None:
    """The converted pr layout (header 2n plus a destination-depot line) ends at the last node."""
    f = tmp_path / "pr00c.txt"
    f.write_text(PR_TEXT + "5 0.0 0.0 0 0 0 480\n")
    inst = read_instance(f)
    assert inst.format == "pr"
    assert inst.end_depot == 5


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("1 2 3 4\n", ":1: header has 4 numbers"),
        ("2 2 480 3 30\n0 0 0 0 0 0 480\n", "node lines"),
        (
            "2 1 480 3 30\n0 0 0 0 0 0 480\n1 1 x 3 1 0 1440\n2 1 1 3 -1 0 1440\n3 0 0 0 0 0 480\n",
            ":3: expected numbers",
        ),
        (
            "2 1 480 3 30\n0 0 0 0 0 0 480\n1 1 1 3 1 50 40\n2 1 1 3 -1 0 1440\n3 0 0 0 0 0 480\n",
            ":3: time window is reversed",
        ),
        (
            "2 1 480 3 30\n0 0 0 0 0 0 480\n1 1 1 3 1 0 1440\n2 1 1 3 1 0 1440\n3 0 0 0 0 0 480\n",
            "expected +q and -q",
        ),
        (
            "25 200 1\n0 40 50 0 0 1236 0 0 0\n1 45 68 10 0 967 90 0 2\n2 45 70 -10 0 870 90 0 0\n",
            ":3: pickup 1 names delivery 2, but line 4",
        ),
        ("25 200 1\n0 40 50 0 0 1236 0 0 0\n1 45 68 10 0 967 90 0 2\n", "at least one pair"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path: Path, text: str, fragment: str) -> None:
    """Malformed files raise InstanceFormatError naming the file (and line when there is one)."""
    f = tmp_path / "bad.txt"
    f.write_text(text)
    with pytest.raises(InstanceFormatError) as err:
        read_instance(f)
    assert str(f) in str(err.value)
    assert fragment in str(err.value)


def test_missing_file_and_unknown_set(tmp_path: Path) -> None:
    """A missing file and an unknown set name give InstanceFormatError, not a traceback."""
    with pytest.raises(InstanceFormatError, match="no such instance file"):
        read_instance(tmp_path / "nope.txt")
    with pytest.raises(InstanceFormatError, match="neither an instance file"):
        resolve_instance_set("no-such-set", tmp_path)
