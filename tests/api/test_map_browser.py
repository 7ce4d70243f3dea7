"""The live map in a real headless browser (Debian chromium driven by playwright)."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ondemand.api.db import RideRequestRow
from ondemand.api.persistence import Database
from tests.api._proc import free_port, kill, make_key, start_server
from tests.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS


@contextlib.contextmanager
def _server(tmp_path: Path, *args: str) -> Iterator[tuple[str, str, str]]:
    """A test server (``args``: its fleet and stops) over a new SQLite file: its database URL, an
    operator key and its address; stopped at the end."""
    url = f"sqlite:///{tmp_path / 'map.db'}"
    key = make_key(url)
    port = free_port()
    proc = start_server(url, port, time.time(), *args)
    try:
        yield url, key, f"http://127.0.0.1:{port}"
    finally:
        kill(proc)


@contextlib.contextmanager
def _map_page(base: str, key: str) -> Iterator[tuple[Any, list[str]]]:
    """/map of the server at ``base`` in headless Chromium, offline (tile requests fail at once instead
    of waiting for a network), and the page errors seen; the browser closed at the end."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not found at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.route("https://**/*", lambda route: route.abort())
            page.goto(f"{base}/map#key={key}")
            yield page, errors
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.slow
def test_map_shows_vehicle_markers(tmp_path: Path) -> None:
    """/map#key=KEY draws a marker per vehicle, next stops, open requests and lost-booking alarms, offline."""
    with _server(tmp_path, "--vehicles", "3", "--stops", "9") as (url, key, base):
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
            for p, q in ((0, 8), (2, 6), (4, 1), (3, 5)):
                body = {"pickup": {"stop_id": f"s{p:02d}"}, "dropoff": {"stop_id": f"s{q:02d}"}}
                out = client.post("/v1/ride-requests", json=body).json()
                assert out["status"] == "assigned"
        db = Database(url)  # the last booking as if lost in a restart: the map must raise the alarm
        with db.write() as session:
            row = session.get(RideRequestRow, out["id"])
            assert row is not None
            row.status, row.reason = "lost", "lost: test"
            session.commit()
        db.dispose()
        with _map_page(base, key) as (page, errors):
            page.wait_for_selector(".od-vehicle", timeout=TIMEOUT_MS)
            page.wait_for_function(
                "document.querySelectorAll('.od-vehicle').length === 3", timeout=TIMEOUT_MS
            )
            labels = sorted(page.locator(".od-vehicle").all_inner_texts())
            assert labels == ["v1", "v2", "v3"]
            assert page.locator(".od-request").count() >= 1
            assert page.locator("path.od-next-stop").count() >= 2
            assert "OpenStreetMap" in page.locator(".leaflet-control-attribution").inner_text()
            assert "key=" not in page.url  # the key is taken out of the address bar
            page.wait_for_function("document.getElementById('kpis').textContent.includes('3 booked')")
            assert "1 LOST" in page.locator("#kpis").inner_text()
            assert page.locator(".od-lost").count() == 1
            assert page.locator("#alarms").is_visible()
            assert "1 lost booking" in page.locator("#alarms").inner_text()
            assert page.locator(f".od-alarm-item[data-request-id='{out['id']}']").count() == 1
            assert not errors, errors


@pytest.mark.browser
@pytest.mark.slow
def test_vehicles_at_one_spot_are_drawn_side_by_side(tmp_path: Path) -> None:
    """Three vans waiting at one depot are three markers side by side on /map, none hiding another."""
    # seven stops: the synthetic fleet's vans start at stops 0, 7 and 14 modulo 7, all at s00
    with (
        _server(tmp_path, "--vehicles", "3", "--stops", "7") as (_, key, base),
        _map_page(base, key) as (page, errors),
    ):
        page.locator(".od-vehicle").nth(2).wait_for()
        assert page.locator(".od-vehicle").count() == 3
        boxes = []
        for vid in ("v1", "v2", "v3"):
            box = page.locator(f".od-vehicle[data-vehicle-id='{vid}']").bounding_box()
            assert box is not None
            boxes.append(box)
        ys = {round(b["y"]) for b in boxes}
        assert len(ys) == 1  # one row at the depot
        xs = sorted(b["x"] for b in boxes)
        width = boxes[0]["width"]
        assert all(right - left >= width for left, right in itertools.pairwise(xs))
        assert xs[-1] - xs[0] <= 4 * width  # still next to the depot
        assert not errors, errors
