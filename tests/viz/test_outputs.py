"""Writers of simulation outputs: the events file reads back to the same day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ondemand.sim.events import from_records
from ondemand.sim.kpis import compute_kpis, kpis_json
from ondemand.viz.outputs import write_events


def test_events_parquet_reads_back_to_the_same_events(events: list[Any], tmp_path: Path) -> None:
    """events.parquet holds every event with its fields; reading it back gives the same stream."""
    path = write_events(tmp_path / "events.parquet", events)
    rows = pq.read_table(path).to_pylist()
    assert [r["seq"] for r in rows] == list(range(len(events)))
    rebuilt = from_records([{c: v for c, v in r.items() if v is not None} for r in rows])
    assert rebuilt == events
    assert kpis_json(compute_kpis(rebuilt)) == kpis_json(compute_kpis(events))


def test_events_csv_has_one_row_per_event_and_the_union_of_fields(events: list[Any], tmp_path: Path) -> None:
    """events.csv has a header of seq, type and every field, and one row per event in order."""
    path = write_events(tmp_path / "events.csv", events)
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    assert header[:2] == ["seq", "type"]
    assert {"t", "request_id", "vehicle_id"} <= set(header)
    assert len(lines) == len(events) + 1
    assert [line.split(",")[1] for line in lines[1:]] == [type(e).__name__ for e in events]
