"""The phone-desk page in a headless browser (Debian chromium driven by playwright) against a real server."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ondemand.api.persistence import Database
from tests.api._proc import REPO, free_port, kill, make_key, start_server
from tests.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

NAME, PHONE = "仙北 太郎", "0187-43-9876"


def _rides(url: str) -> list[Any]:
    """Every ride-request row in the server's database (read directly, not through the API)."""
    from sqlalchemy import select

    from ondemand.api.db import RideRequestRow

    db = Database(url, run_migrations=False)
    try:
        with db.read() as session:
            return list(session.scalars(select(RideRequestRow)))
    finally:
        db.dispose()


@pytest.mark.browser
@pytest.mark.slow
def test_clerk_registers_books_and_cancels_for_a_caller(tmp_path: Path) -> None:
    """A clerk registers a caller, books by stop names, sees the window, cancels; the API agrees each step."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not found at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    key = make_key(url)
    port = free_port()
    proc = start_server(url, port, time.time(), "--vehicles", "3", "--stops", "9")
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with (
            httpx.Client(base_url=base, headers=headers, timeout=10) as api,
            sync_api.sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 860})
                page.set_default_timeout(TIMEOUT_MS)
                errors: list[str] = []
                urls: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.on("request", lambda req: urls.append(req.url))
                page.route("https://**/*", lambda route: route.abort())  # offline: no tiles
                page.goto(f"{base}/desk#key={key}")
                page.wait_for_selector("body[data-ready='1']", timeout=TIMEOUT_MS)
                assert "key=" not in page.url  # the key is taken out of the address bar
                assert page.locator("h1").inner_text() == "電話予約デスク"  # Japanese first
                page.click("#lang")
                assert page.locator("h1").inner_text() == "Phone booking desk"
                assert page.locator("#check").inner_text() == "Check availability"
                page.click("#lang")
                assert page.locator("h1").inner_text() == "電話予約デスク"
                assert page.locator("path.od-stop").count() == 9

                # 1. the caller is new: the search finds nobody, the clerk registers them
                page.fill("#search-q", "0187-43")
                page.click("#search-form button[type=submit]")
                page.wait_for_selector("#found li.empty")
                assert page.locator("#register-box").get_attribute("open") is not None
                page.fill("#reg-name", NAME)
                page.fill("#reg-phone", PHONE)
                page.check("#reg-wheelchair")
                page.click("#register-form button[type=submit]")
                page.wait_for_selector("#rider-card[data-rider-id]")
                rider_id = page.locator("#rider-card").get_attribute("data-rider-id")
                found = api.post("/v1/riders/search", json={"q": "43-9876"}).json()
                assert [(r["id"], r["name"], r["phone"], r["needs"]) for r in found] == [
                    (rider_id, NAME, "0187439876", ["wheelchair"])
                ]
                assert NAME in page.locator("#rider-card").inner_text()
                assert page.locator("#wheelchair").is_checked()  # the rider's need carries over

                # 2. the stops: a click on the map fills "from", then names typed by the clerk
                page.locator("path.od-stop-s03").click(force=True)
                assert page.input_value("#origin") == "Stop 3 (s03)"
                page.fill("#origin", "stop 0")  # by name, any case
                page.fill("#destination", "Stop 8")
                page.click("#check")
                page.wait_for_selector("#offer .od-window")
                shown = page.locator("#offer .od-window").inner_text()
                assert re.fullmatch(r"お迎え \d\d:\d\d〜\d\d:\d\d", shown), shown
                assert _rides(url) == []  # an offer books nothing

                # 3. confirm: the booking is the one offered, for this rider
                page.click("#offer .od-confirm")
                page.wait_for_selector("#offer .od-booked")
                request_id = page.locator("#offer").get_attribute("data-request-id")
                ride = api.get(f"/v1/ride-requests/{request_id}").json()
                assert ride["status"] == "assigned"
                assert (ride["pickup_stop"], ride["dropoff_stop"]) == ("s00", "s08")
                assert ride["rider_id"] == rider_id
                assert ride["wheelchair"] is True
                window = f"{ride['pickup_window']['start'][11:16]}〜{ride['pickup_window']['end'][11:16]}"
                assert shown == f"お迎え {window}"
                assert window in page.locator("#offer .od-booked").inner_text()
                item = page.locator(f"#bookings li[data-request-id='{request_id}']")
                item.wait_for()
                assert item.get_attribute("data-status") == "assigned"
                picture = tmp_path / "desk.png"
                page.screenshot(path=str(picture))

                # 4. the caller changes their mind: the clerk cancels
                item.locator("button.od-cancel").click()
                page.wait_for_selector(
                    f"#bookings li[data-request-id='{request_id}'][data-status='cancelled']"
                )
                assert api.get(f"/v1/ride-requests/{request_id}").json()["status"] == "cancelled"
                assert [(r.id, r.status, r.rider_id) for r in _rides(url)] == [
                    (request_id, "cancelled", rider_id)
                ]
                assert not errors, errors
                leaked = [u for u in urls if NAME in u or "9876" in u or "%E4%BB%99" in u]
                assert leaked == []  # names and phone numbers never travel in a URL
            finally:
                browser.close()
    finally:
        kill(proc)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("ONDEMAND_UPDATE_PICTURES"):  # refresh the README picture: docs/desk.png
        shutil.copyfile(picture, REPO / "docs" / "desk.png")


@pytest.mark.browser
@pytest.mark.slow
def test_a_refusal_shows_the_reason_and_books_a_nearby_time(tmp_path: Path) -> None:
    """In English, leave at 18:30 is refused with its reason; a nearest-time button re-offers; it books."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not found at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    key = make_key(url)
    port = free_port()
    proc = start_server(url, port, time.time(), "--vehicles", "2", "--stops", "9")
    base = f"http://127.0.0.1:{port}"
    try:
        with (
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as api,
            sync_api.sync_playwright() as pw,
        ):
            rider = api.post("/v1/riders", json={"name": "Jane Roe", "phone": "03-1234-5678"}).json()
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 860})
                page.set_default_timeout(TIMEOUT_MS)
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.route("https://**/*", lambda route: route.abort())
                page.goto(f"{base}/desk")
                page.wait_for_selector("#login:not([hidden])")
                page.fill("#apikey", key)
                page.click("#login button[type=submit]")
                page.wait_for_selector("body[data-ready='1']", timeout=TIMEOUT_MS)
                page.click("#lang")
                assert page.locator("html").get_attribute("lang") == "en"
                page.fill("#search-q", "Roe")
                page.click("#search-form button[type=submit]")
                page.locator(f"#found li[data-rider-id='{rider['id']}'] button").click()
                page.fill("#origin", "1")  # by number
                page.fill("#destination", "s07")  # by id
                page.check("input[name=when][value=leave]")
                page.fill("#time", "18:30")
                page.click("#check")
                page.wait_for_selector("#offer.refused")
                assert "Reason:" in page.locator("#offer .od-reason").inner_text()
                alternatives = page.locator("#offer .od-alternative button")
                assert 1 <= alternatives.count() <= 3
                label = alternatives.first.inner_text()
                assert re.fullmatch(r"Check leaving \d\d:\d\d", label), label
                alternatives.first.click()
                page.wait_for_selector("#offer .od-window")
                assert page.input_value("#time") == label[-5:]
                page.click("#offer .od-confirm")
                page.wait_for_selector("#offer .od-booked")
                request_id = page.locator("#offer").get_attribute("data-request-id")
                ride = api.get(f"/v1/ride-requests/{request_id}").json()
                assert (ride["status"], ride["pickup_stop"], ride["dropoff_stop"]) == (
                    "assigned",
                    "s01",
                    "s07",
                )
                assert ride["rider_id"] == rider["id"]
                assert page.locator("#bookings li[data-status=assigned]").count() == 1
                assert not errors, errors
            finally:
                browser.close()
    finally:
        kill(proc)
