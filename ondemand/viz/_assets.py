"""Make folium's HTML self-contained: the CDN scripts and stylesheets it links are inlined.

Folium links Leaflet, jQuery, Bootstrap, Font Awesome, Leaflet.TimeDimension etc. from
CDNs. Planners often sit behind proxies that block them (and this project's CI has no
internet), so every map we write replaces each known CDN link with the vendored file from
``ondemand/viz/static/`` (provenance, versions and licences in its ``README.md``) as an
inline ``<script>``/``<style>``: one HTML file that works offline and can be e-mailed.

Assets folium links but our maps never use (Bootstrap, Font Awesome, the awesome-markers
plugin, Bootstrap 3 glyphicons CSS, jQuery UI and a highlight.js theme) are dropped, each
with a pattern saying when a page would need it; a page matching it keeps the CDN link.
A link that is neither vendored nor droppable stays as it is and :func:`inline_assets`
warns with :class:`OfflineAssetWarning` (tests run with warnings as errors, so a folium
upgrade that links something new is caught).

Only the OpenStreetMap tile layer stays online; the map is drawn on a plain background
when tiles cannot be fetched.
"""

from __future__ import annotations

import base64
import re
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ASSETS",
    "TILE_URL_PREFIXES",
    "Asset",
    "OfflineAssetWarning",
    "external_urls",
    "inline_assets",
    "offline_html",
    "save_offline",
]

TILE_URL_PREFIXES = ("https://tile.openstreetmap.org/",)
"""URL prefixes allowed to stay online (map tiles, which cannot be vendored)."""

# A plain land colour behind the vector layers (shown where tiles are missing), and room for
# two-digit speeds ("10fps") beside the time control's speed icon, which otherwise overlaps them.
_EXTRA_CSS = (
    ".leaflet-container{background:#f2efe9}"
    ".leaflet-bar-timecontrol .timecontrol-speed .speed{width:auto;padding-left:24px}"
)


class OfflineAssetWarning(UserWarning):
    """A map links a CDN script or stylesheet that is not vendored; it needs internet to show."""


@dataclass(frozen=True)
class Asset:
    """One CDN link folium writes and what we put in its place.

    Attributes
    ----------
    url
        The exact URL folium links.
    kind
        ``"js"`` or ``"css"``.
    file
        Path under ``ondemand/viz/static/`` of the vendored file inlined instead, or
        ``None`` when the asset is dropped.
    package
        npm package and version the file comes from (or that the URL serves).
    needed_if
        For dropped assets: a regular expression that matches pages which use the asset
        (then the link is kept and a warning issued).
    """

    url: str
    kind: Literal["js", "css"]
    file: str | None
    package: str
    needed_if: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("js", "css"):
            raise ValueError(f"asset kind must be 'js' or 'css', got {self.kind!r}")
        if (self.file is None) == (not self.needed_if):
            raise ValueError(f"{self.url}: a dropped asset needs needed_if, a vendored one must not have it")


_BOOTSTRAP_USE = r"data-bs-|\bbootstrap\.|class=\"[^\"]*\b(?:btn|card|modal|navbar|table)\b"
_ICON_USE = r"AwesomeMarkers|\bfa[srb]?\s+fa-|\bglyphicon-"

ASSETS: tuple[Asset, ...] = (
    # folium.Map
    Asset(
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js",
        "js",
        "leaflet-1.9.3/leaflet.js",
        "leaflet@1.9.3",
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css",
        "css",
        "leaflet-1.9.3/leaflet.css",
        "leaflet@1.9.3",
    ),
    Asset("https://code.jquery.com/jquery-3.7.1.min.js", "js", "jquery-3.7.1/jquery.min.js", "jquery@3.7.1"),
    Asset(
        "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js",
        "js",
        None,
        "bootstrap@5.2.2",
        _BOOTSTRAP_USE,
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css",
        "css",
        None,
        "bootstrap@5.2.2",
        _BOOTSTRAP_USE,
    ),
    Asset(
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
        "css",
        None,
        "bootstrap@3.0.0",
        _ICON_USE,
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css",
        "css",
        None,
        "@fortawesome/fontawesome-free@6.2.0",
        _ICON_USE,
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js",
        "js",
        None,
        "leaflet.awesome-markers@2.0.2",
        _ICON_USE,
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css",
        "css",
        None,
        "leaflet.awesome-markers@2.0.2",
        _ICON_USE,
    ),
    Asset(
        "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css",
        "css",
        None,
        "folium (awesome-markers rotation)",
        _ICON_USE,
    ),
    # folium.plugins.TimestampedGeoJson
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/jquery/3.7.1/jquery.min.js",
        "js",
        "jquery-3.7.1/jquery.min.js",
        "jquery@3.7.1",
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/jqueryui/1.10.2/jquery-ui.min.js",
        "js",
        None,
        "jquery-ui@1.10.2",
        r"\$\.ui\b|jQuery\.ui\b|\.(?:datepicker|dialog|autocomplete|accordion|selectmenu|spinner)\(",
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/iso8601-js-period@0.2.1/iso8601.min.js",
        "js",
        "iso8601-js-period-0.2.1/iso8601.js",
        "iso8601-js-period@0.2.1",
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/leaflet-timedimension@1.1.1/dist/leaflet.timedimension.min.js",
        "js",
        "leaflet-timedimension-1.1.1/leaflet.timedimension.min.js",
        "leaflet-timedimension@1.1.1",
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/moment.js/2.18.1/moment.min.js",
        "js",
        "moment-2.18.1/moment.min.js",
        "moment@2.18.1",
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/highlight.js/8.4/styles/default.min.css",
        "css",
        None,
        "highlight.js@8.4.0",
        r"\bhljs\b",
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/leaflet-timedimension@1.1.1/dist/leaflet.timedimension.control.css",
        "css",
        "leaflet-timedimension-1.1.1/leaflet.timedimension.control.min.css",
        "leaflet-timedimension@1.1.1",
    ),
)
"""Every CDN link of the folium features our maps use (folium 0.17-0.20)."""

_BY_URL = {a.url: a for a in ASSETS}

_SCRIPT_TAG = re.compile(r"<script\b[^>]*\bsrc=\"([^\"]+)\"[^>]*>\s*</script>", re.IGNORECASE)
_LINK_TAG = re.compile(r"<link\b[^>]*\bhref=\"([^\"]+)\"[^>]*>", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
_GLYPH_FACE = re.compile(r"@font-face\{font-family:'Glyphicons Halflings';[^}]*\}")


def _static() -> Any:
    return resources.files("ondemand.viz") / "static"


def _read(file: str) -> bytes:
    data: bytes = (_static() / file).read_bytes()
    return data


def _data_uri(file: str, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(_read(file)).decode('ascii')}"


def _default_icon_js() -> str:
    """Point Leaflet's default marker icon at inlined PNGs (it would look for ``images/`` next to the CSS)."""
    urls = {
        key: _data_uri(f"leaflet-1.9.3/images/{name}", "image/png")
        for key, name in (
            ("iconUrl", "marker-icon.png"),
            ("iconRetinaUrl", "marker-icon-2x.png"),
            ("shadowUrl", "marker-shadow.png"),
        )
    }
    options = ",".join(f'{k}:"{v}"' for k, v in urls.items())
    return f'\nL.Icon.Default.imagePath="";L.Icon.Default.mergeOptions({{{options}}});\n'


@cache
def _inline_content(asset_file: str, kind: str) -> str:
    """The text to inline for a vendored file (CSS images and fonts become data URIs)."""
    text = _read(asset_file).decode("utf-8")
    if kind == "js":
        if asset_file == "leaflet-1.9.3/leaflet.js":
            text += _default_icon_js()
        return text.replace("</script", "<\\/script")
    if asset_file.startswith("leaflet-1.9.3/"):

        def image(m: re.Match[str]) -> str:
            ref = m.group(1)
            if ref.startswith("images/"):
                return f"url({_data_uri('leaflet-1.9.3/' + ref, 'image/png')})"
            return m.group(0)

        text = _CSS_URL.sub(image, text)
    if asset_file.startswith("leaflet-timedimension-"):
        # The time control's play/pause buttons use the Bootstrap 3 glyphicons font, which the
        # CSS loads from netdna.bootstrapcdn.com; the WOFF from bootstrap@3.1.1 (the oldest 3.x
        # on npm; same code points) replaces it.
        font = _data_uri("bootstrap-3.1.1/glyphicons-halflings-regular.woff", "font/woff")
        face = f"@font-face{{font-family:'Glyphicons Halflings';src:url({font}) format('woff')}}"
        text, n = _GLYPH_FACE.subn(lambda _m: face, text)
        if n != 1:
            raise RuntimeError(f"{asset_file}: expected one glyphicons @font-face, found {n}")
    return text.replace("</style", "<\\/style")


def external_urls(html: str) -> list[str]:
    """Every non-inline script/stylesheet URL and every CSS ``url()`` that is not a data URI or local."""
    found = [m.group(1) for m in _SCRIPT_TAG.finditer(html)]
    found += [m.group(1) for m in _LINK_TAG.finditer(html)]
    found += [u for u in _CSS_URL.findall(html) if not u.startswith(("data:", "#"))]
    return [u for u in found if u.startswith(("http://", "https://", "//"))]


def inline_assets(html: str) -> str:
    """Replace folium's CDN ``<script>``/``<link>`` tags by the vendored files, inline.

    Each vendored file is inlined once (folium links jQuery twice); dropped assets are
    removed unless the page uses them. Unknown external links are kept and reported with
    :class:`OfflineAssetWarning`.

    Parameters
    ----------
    html
        A rendered folium page.

    Returns
    -------
    str
        The page with no external scripts or stylesheets left (except unknown ones).
    """
    bare = _LINK_TAG.sub("", _SCRIPT_TAG.sub("", html))
    done: set[str] = set()
    unknown: list[str] = []

    def replace(m: re.Match[str], kind: str) -> str:
        url = m.group(1)
        if not url.startswith(("http://", "https://", "//")):
            return m.group(0)
        asset = _BY_URL.get(url)
        if asset is None or asset.kind != kind:
            unknown.append(url)
            return m.group(0)
        if asset.file is None:
            if re.search(asset.needed_if, bare):
                unknown.append(url)
                return m.group(0)
            return ""
        if asset.file in done:
            return ""
        done.add(asset.file)
        body = _inline_content(asset.file, kind)
        if kind == "js":
            return f"<script>/* {asset.package} (vendored) */\n{body}\n</script>"
        return f"<style>/* {asset.package} (vendored) */\n{body}\n</style>"

    out = _SCRIPT_TAG.sub(lambda m: replace(m, "js"), html)
    out = _LINK_TAG.sub(lambda m: replace(m, "css") if "stylesheet" in m.group(0) else m.group(0), out)
    out = out.replace("</head>", f"<style>{_EXTRA_CSS}</style>\n</head>", 1)
    if unknown:
        warnings.warn(
            "this map links assets that are not vendored, so it needs internet to show: "
            + ", ".join(sorted(set(unknown)))
            + " — add them to ondemand/viz/_assets.py (vendor the file, or drop it if unused)",
            OfflineAssetWarning,
            stacklevel=2,
        )
    return out


_ELEMENT_ID = re.compile(r"(?<=_)[0-9a-f]{32}(?![0-9a-f])")


def stable_ids(html: str) -> str:
    """Replace folium's random element ids (``map_<uuid4 hex>``) by numbers in order of appearance.

    The same map then renders to the same bytes in every run (a simulated day is
    reproducible down to its pictures).
    """
    ids: dict[str, str] = {}
    return _ELEMENT_ID.sub(lambda m: ids.setdefault(m.group(0), f"{len(ids):032x}"), html)


def offline_html(fmap: Any) -> str:
    """Render a :class:`folium.Map` to one self-contained HTML page (only tiles stay online).

    Element ids are made stable (:func:`stable_ids`), so equal maps give equal bytes.
    """
    return inline_assets(stable_ids(fmap.get_root().render()))


def save_offline(fmap: Any, path: str | Path) -> Path:
    """Write :func:`offline_html` of ``fmap`` to ``path`` (UTF-8) and return the path."""
    p = Path(path)
    p.write_text(offline_html(fmap), encoding="utf-8")
    return p
