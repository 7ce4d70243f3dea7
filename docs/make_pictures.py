"""Regenerate the README picture ``docs/senboku_map.png`` (the Senboku simulated day map).

Runs the same steps as ``ondemand simulate scenarios/senboku.toml`` (seed 0) with the road
network drawn under the routes, writes the self-contained map HTML and screenshots it in
headless Chromium (Debian's ``/usr/bin/chromium`` through playwright) at 1200×800. The
OpenStreetMap tiles are not fetched (the picture must not depend on the network), so the
routes, stops and roads show on the map's plain background.

Usage::

    ONDEMAND_DATA_DIR=/path/to/shared/data/osm python docs/make_pictures.py [--chromium PATH]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import Route, sync_playwright

from ondemand.routing.geo.area import build_service_area
from ondemand.scenario import load_scenario
from ondemand.sim.engine import simulate
from ondemand.viz.maps import write_map

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def senboku_map(html: Path) -> Path:
    """Simulate the Senboku scenario (seed 0) and write its day map to ``html``."""
    sc = load_scenario(REPO / "scenarios" / "senboku.toml")
    area = build_service_area(sc.area_spec, network=sc.network, stops=sc.stops)
    res = simulate(sc, seed=0, area=area)
    title = f"{sc.name}: simulated day (seed {res.seed}, {res.fleet} vehicles)"
    return write_map(html, res.events, res.stops, path=area.path, title=title, roads=area.network)


def screenshot(html: Path, png: Path, *, chromium: str, width: int = 1200, height: int = 800) -> Path:
    """Open ``html`` from file:// with every network request refused and save a PNG of it."""

    def local_only(route: Route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            # the slider shows times in the browser's zone; the scenario's day is in Japan
            page = browser.new_page(viewport={"width": width, "height": height}, timezone_id="Asia/Tokyo")
            page.route("**/*", local_only)
            page.goto(html.resolve().as_uri())
            page.wait_for_selector(".leaflet-overlay-pane svg path")
            page.wait_for_timeout(500)
            page.screenshot(path=str(png))
        finally:
            browser.close()
    # a 256-colour palette keeps the README picture small without visible loss on a map
    with Image.open(png) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(png, optimize=True)
    return png


def main() -> None:
    """Write docs/senboku_map.png."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "senboku_map.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        html = senboku_map(Path(tmp) / "map.html")
        screenshot(html, args.out, chromium=args.chromium)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
