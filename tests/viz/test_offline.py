"""The maps we write are one self-contained HTML file: scripts and styles inline, only tiles online."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import pytest
from folium.plugins import TimestampedGeoJson

from ondemand.routing.geo.stops import MeetingPoint
from ondemand.sim.events import VehicleDeparted
from ondemand.viz._assets import (
    ASSETS,
    TILE_URL_PREFIXES,
    OfflineAssetWarning,
    external_urls,
    inline_assets,
    offline_html,
)
from ondemand.viz.maps import ATTRIBUTION, VEHICLE_COLOURS, day_map, write_map
from ondemand.viz.network_map import write_network_map
from tests.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.routing.geo._network_fixtures import grid_network
from tests.viz._day import AREA

TILE_TEMPLATE = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
STATIC = resources.files("ondemand.viz") / "static"
# elements that load something from a src/href pointing off the page (links <a> are fine)
_ATTR_URL = re.compile(
    r"""<(?:script|link|img|iframe|embed|object|source|audio|video)\b[^>]*\b(?:src|href|data)\s*=\s*"""
    r"""["']((?:https?:)?//[^"']+)""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def day_html(events: list[Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The day map written by :func:`write_map` (with a road layer)."""
    out = tmp_path_factory.mktemp("map") / "map.html"
    return write_map(out, events, AREA.stops, path=AREA.path, title="grid day", roads=grid_network(5))


def _assert_offline(html: str) -> None:
    assert external_urls(html) == []
    assert _ATTR_URL.findall(html) == []
    online = {u for u in re.findall(r"https?://[^\s\"'<>)]+", html) if u.startswith(TILE_URL_PREFIXES)}
    assert online == {TILE_TEMPLATE}
    assert ATTRIBUTION in html.replace("\\u00a9", "©")
    assert "<script>/* leaflet@1.9.3 (vendored) */" in html


def test_day_map_file_is_self_contained(day_html: Path) -> None:
    """The written day map links no script, stylesheet, font or image off the page except the tiles."""
    html = day_html.read_text(encoding="utf-8")
    _assert_offline(html)
    assert html.count("<script>/* jquery@3.7.1 (vendored) */") == 1  # folium links it twice
    for pkg in ("moment@2.18.1", "leaflet-timedimension@1.1.1", "iso8601-js-period@0.2.1"):
        assert f"/* {pkg} (vendored) */" in html
    assert "Glyphicons Halflings';src:url(data:font/woff;base64," in html
    assert "Roads" in html


def test_network_map_file_is_self_contained(tmp_path: Path) -> None:
    """The written network map is self-contained too, with the layers-control icon inlined."""
    net = grid_network(4)
    stop = MeetingPoint(id="m1", name="Station", lon=float(net.lon[0]), lat=float(net.lat[0]), node=0)
    html = write_network_map(net, [stop], tmp_path / "sub" / "net.html").read_text(encoding="utf-8")
    _assert_offline(html)
    assert "url(data:image/png;base64," in html
    assert "moment" not in html  # no time slider, no plugin assets


def test_every_link_folium_writes_is_known() -> None:
    """Each CDN link of folium.Map and TimestampedGeoJson is vendored or deliberately dropped."""
    known = {a.url for a in ASSETS}
    links = [url for _name, url in folium.Map.default_js + folium.Map.default_css]
    links += [url for _name, url in TimestampedGeoJson.default_js + TimestampedGeoJson.default_css]
    assert sorted(set(links) - known) == []


def test_vendored_files_exist_with_licences() -> None:
    """Every vendored file ships in the package, and every vendored package has its licence."""
    for asset in ASSETS:
        if asset.file is not None:
            assert (STATIC / asset.file).is_file(), asset.file
    for folder in STATIC.iterdir():
        if folder.is_dir():
            names = {p.name for p in folder.iterdir()}
            assert names & {"LICENSE", "LICENSE.txt"}, folder.name
    assert (STATIC / "README.md").is_file()


def test_unknown_cdn_link_warns_and_is_kept() -> None:
    """A link not in the asset table stays in the page and raises OfflineAssetWarning."""
    page = '<html><head><script src="https://cdn.example.org/new.js"></script></head><body></body></html>'
    with pytest.warns(OfflineAssetWarning, match=r"cdn\.example\.org/new\.js"):
        out = inline_assets(page)
    assert '<script src="https://cdn.example.org/new.js"></script>' in out


def test_dropped_asset_is_kept_when_the_page_uses_it() -> None:
    """A folium marker icon needs awesome-markers/Font Awesome: those links stay, with a warning."""
    m = folium.Map(location=[34.5, 135.5], tiles=None)
    folium.Marker([34.5, 135.5], icon=folium.Icon(icon="bus", prefix="fa")).add_to(m)
    with pytest.warns(OfflineAssetWarning, match="awesome-markers"):
        html = offline_html(m)
    assert "leaflet.awesome-markers.js" in html
    assert "bootstrap.bundle.min.js" not in html  # unused: still dropped


def test_day_map_without_roads_is_unchanged_in_content(events: list[Any]) -> None:
    """Without ``roads`` there is no road layer; the vehicle layers are the same."""
    html = offline_html(day_map(events, AREA.stops, path=AREA.path))
    assert "Roads" not in html
    vehicles = {e.vehicle_id for e in events if isinstance(e, VehicleDeparted)}
    for vid in vehicles:
        assert f"Vehicle {vid} route" in html


# ---------------------------------------------------------------- headless browser


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_day_map_renders_offline_in_chromium(day_html: Path, events: list[Any], tmp_path: Path) -> None:
    """From file:// with the network cut, Leaflet draws the routes, the stops and the time slider."""
    sync_api = pytest.importorskip("playwright.sync_api")
    requested: list[str] = []
    errors: list[str] = []

    def local_only(route: Any) -> None:
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            requested.append(url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 700}, timezone_id="Asia/Tokyo")
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", local_only)
            page.goto(day_html.as_uri())
            page.wait_for_selector(".leaflet-overlay-pane svg path", state="attached", timeout=TIMEOUT_MS)
            state = page.evaluate(
                """(colours) => {
                const paths = [...document.querySelectorAll('.leaflet-overlay-pane svg path')];
                // circles (stops, replayed positions) are arcs; route legs are polylines
                const arc = (p) => /a/.test(p.getAttribute('d') || '');
                const stroke = (c, circle) =>
                    paths.filter(p => p.getAttribute('stroke') === c && arc(p) === circle).length;
                return {
                    leaflet: typeof L === 'object' && L.version,
                    maps: document.querySelectorAll('.leaflet-container').length,
                    stopMarkers: stroke('#333333', true),
                    v1: stroke(colours[0], false),
                    v2: stroke(colours[1], false),
                    drawn: paths.filter(p => (p.getAttribute('d') || '').length > 10).length,
                    slider: document.querySelectorAll('.timecontrol-dateslider').length,
                    play: document.querySelectorAll('.leaflet-bar-timecontrol .timecontrol-play').length,
                    date: (document.querySelector('.timecontrol-date') || {}).textContent || '',
                    attribution: document.querySelector('.leaflet-control-attribution').textContent,
                    glyphs: document.fonts.check("12px 'Glyphicons Halflings'"),
                };
            }""",
                list(VEHICLE_COLOURS[:2]),
            )
            page.screenshot(path=str(tmp_path / "day_map.png"))
        finally:
            browser.close()
    assert errors == []
    assert state["leaflet"] == "1.9.3"
    assert state["maps"] == 1
    assert state["stopMarkers"] == len(AREA.stops)
    assert state["v1"] >= 1
    assert state["v2"] >= 1
    legs = sum(isinstance(e, VehicleDeparted) and e.from_stop != e.to_stop for e in events)
    assert state["v1"] + state["v2"] == legs
    assert state["drawn"] >= legs + len(AREA.stops)
    assert state["slider"] == 1
    assert state["play"] == 1
    assert re.fullmatch(r"\d\d:\d\d", state["date"].strip())
    assert "OpenStreetMap contributors" in state["attribution"]
    assert state["glyphs"] is True
    assert requested
    assert all(u.startswith(TILE_URL_PREFIXES) for u in requested)
    assert (tmp_path / "day_map.png").stat().st_size > 10_000


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_default_marker_icon_loads_offline(tmp_path: Path) -> None:
    """A plain folium.Marker gets Leaflet's default icon and shadow from the inlined PNGs."""
    sync_api = pytest.importorskip("playwright.sync_api")
    m = folium.Map(location=[34.5, 135.5], zoom_start=14, tiles=None)
    folium.Marker([34.5, 135.5], tooltip="depot").add_to(m)
    html = tmp_path / "marker.html"
    html.write_text(offline_html(m), encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
            page.goto(html.as_uri())
            page.wait_for_selector("img.leaflet-marker-icon")
            page.wait_for_function(
                "[...document.querySelectorAll('.leaflet-marker-pane img, .leaflet-shadow-pane img')]"
                ".every(i => i.complete)"
            )
            sizes = page.evaluate(
                "[...document.querySelectorAll('.leaflet-marker-pane img, .leaflet-shadow-pane img')]"
                ".map(i => [i.naturalWidth, i.naturalHeight, i.src.slice(0, 22)])"
            )
        finally:
            browser.close()
    assert len(sizes) == 2  # icon and shadow
    for width, height, src in sizes:
        assert width > 0
        assert height > 0
        assert src == "data:image/png;base64,"


def test_stable_ids_number_folium_ids_in_order_of_appearance() -> None:
    """Random folium element ids become 0, 1, ... by first appearance; other text is untouched."""
    from ondemand.viz._assets import stable_ids

    a, b = "3f" * 16, "c0" * 16
    html = f"#map_{a} {{}} var map_{a} = L.map(); var tile_layer_{b}; x_{a}0; id {a}"
    assert stable_ids(html) == (
        f"#map_{0:032x} {{}} var map_{0:032x} = L.map(); var tile_layer_{1:032x}; x_{a}0; id {a}"
    )
