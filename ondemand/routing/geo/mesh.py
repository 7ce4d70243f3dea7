"""Where people live: the national census's grid-square statistics (地域メッシュ統計).

Japan's statistical grid squares follow JIS X 0410 (地域メッシュ): a 1st-level square is 40'
of latitude by 1° of longitude, coded by four digits (two for ``lat × 1.5``, two for
``lon − 100``); each level below splits it further:

========  =======  ====================================  ===============
level     digits   split                                 size (approx.)
========  =======  ====================================  ===============
1st       4        —                                     80 km
2nd       6        8 × 8 (lat digit, lon digit)          10 km
3rd       8        10 × 10 (lat digit, lon digit)        1 km
4th       9        2 × 2 (1 SW, 2 SE, 3 NW, 4 NE)        500 m
5th       10       2 × 2                                 250 m
6th       11       2 × 2                                 125 m
========  =======  ====================================  ===============

:func:`mesh_box` decodes a code to its (west, south, east, north) box; :func:`load_population_mesh`
reads the e-Stat CSV of the census's 500 m mesh (a header row of item codes with ``KEY_CODE``
first, a second row of Japanese labels, Shift_JIS or UTF-8): per square its total population
(人口（総数）) and its population aged 65 and over (65歳以上人口).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ondemand.errors import PopulationMeshError

__all__ = ["PopulationMesh", "load_population_mesh", "mesh_box", "mesh_code"]

_LEVEL_DIGITS = (4, 6, 8, 9, 10, 11)


def mesh_box(code: str | int) -> tuple[float, float, float, float]:
    """The ``(west, south, east, north)`` box in degrees of a JIS X 0410 mesh code.

    Parameters
    ----------
    code
        4 (1st level), 6, 8, 9 (500 m), 10 or 11 digits.

    Raises
    ------
    ValueError
        For a code of another length or with an impossible digit.
    """
    s = str(code).strip()
    if not s.isdigit() or len(s) not in _LEVEL_DIGITS:
        raise ValueError(f"mesh code {code!r}: needs {', '.join(map(str, _LEVEL_DIGITS))} digits")
    lat = int(s[0:2]) / 1.5
    lon = int(s[2:4]) + 100.0
    dlat, dlon = 1.0 / 1.5, 1.0
    if len(s) >= 6:
        q, v = int(s[4]), int(s[5])
        if q > 7 or v > 7:
            raise ValueError(f"mesh code {code!r}: 2nd-level digits must be 0-7, got {q}{v}")
        dlat, dlon = dlat / 8, dlon / 8
        lat += q * dlat
        lon += v * dlon
    if len(s) >= 8:
        r, w = int(s[6]), int(s[7])
        dlat, dlon = dlat / 10, dlon / 10
        lat += r * dlat
        lon += w * dlon
    for digit in s[8:]:
        m = int(digit)
        if not 1 <= m <= 4:
            raise ValueError(f"mesh code {code!r}: quarter digits must be 1-4, got {m}")
        dlat, dlon = dlat / 2, dlon / 2
        lat += dlat if m in (3, 4) else 0.0
        lon += dlon if m in (2, 4) else 0.0
    return lon, lat, lon + dlon, lat + dlat


def mesh_code(lon: float, lat: float, *, digits: int = 9) -> str:
    """The JIS X 0410 code of the square holding a point (``digits``: 4, 6, 8, 9, 10 or 11)."""
    if digits not in _LEVEL_DIGITS:
        raise ValueError(f"digits must be one of {_LEVEL_DIGITS}, got {digits}")
    # in units of the smallest (6th-level) square: 1/(1.5*8*10*8) deg of latitude, 1/(8*10*8) deg of longitude
    y = math.floor(lat * 1.5 * 8 * 10 * 8 + 1e-9)
    x = math.floor((lon - 100.0) * 8 * 10 * 8 + 1e-9)
    if not (0 <= y < 100 * 640 and 0 <= x < 100 * 640):
        raise ValueError(f"(lon {lon}, lat {lat}) is outside the JIS X 0410 grid")
    code = f"{y // 640:02d}{x // 640:02d}{y % 640 // 80}{x % 640 // 80}{y % 80 // 8}{x % 80 // 8}"
    ry, rx = y % 8, x % 8
    for half in (4, 2, 1):  # the quarters: 1 SW, 2 SE, 3 NW, 4 NE
        if len(code) >= digits:
            break
        code += str(1 + (1 if rx & half else 0) + (2 if ry & half else 0))
    return code[:digits]


@dataclass(frozen=True, eq=False)
class PopulationMesh:
    """People per grid square.

    Attributes
    ----------
    codes
        Mesh codes (strings, one level).
    population
        Total population per square (``int64``).
    older
        Population aged 65 and over per square (``int64``; 0 when the file has no such column).
    source
        The file read.
    has_older
        Whether the file gave the 65+ column.
    """

    codes: tuple[str, ...]
    population: NDArray[np.int64]
    older: NDArray[np.int64]
    source: str = ""
    has_older: bool = True

    def boxes(self) -> NDArray[np.float64]:
        """``(n, 4)`` array of the squares' (west, south, east, north)."""
        return np.array([mesh_box(c) for c in self.codes], dtype=np.float64).reshape(-1, 4)

    def locate(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.int64]:
        """Index of the square holding each point, ``-1`` outside every square of the file."""
        b = self.boxes()
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        out = np.full(x.shape, -1, dtype=np.int64)
        for k in range(len(self.codes)):  # few hundred squares in a service area
            w, s, e, n = b[k]
            out[(out < 0) & (x >= w) & (x < e) & (y >= s) & (y < n)] = k
        return out


_WHAT = (
    "expected the e-Stat 地域メッシュ統計 CSV of the census (500 m mesh): a first row of item codes "
    "starting with KEY_CODE, a second row of Japanese labels including 人口（総数） and 65歳以上人口, "
    "then one row per 9-digit mesh code; Shift_JIS or UTF-8"
)


def _decode(raw: bytes, path: Path) -> str:
    for enc in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise PopulationMeshError(f"{path}: neither UTF-8 nor Shift_JIS text; {_WHAT}")


def _find(labels: list[str], *, older: bool) -> int | None:
    for k, lab in enumerate(labels):
        t = lab.replace(" ", "").replace("　", "").replace("(", "（").replace(")", "）")
        if older:
            if "65歳以上" in t and "人口" in t and "男" not in t and "女" not in t:
                return k
        elif t.startswith("人口") and "総数" in t and "歳" not in t and "男" not in t and "女" not in t:
            return k
    return None


def _count(v: str, path: Path, line: int, col: str) -> int:
    t = v.strip().replace(",", "")
    if t in ("", "*", "-", "X", "x", "…"):
        return 0  # hidden (秘匿) or none
    try:
        n = int(float(t))
    except ValueError:
        raise PopulationMeshError(
            f"{path}: line {line}, column {col}: {v!r} is not a count; {_WHAT}"
        ) from None
    if n < 0:
        raise PopulationMeshError(f"{path}: line {line}, column {col}: negative count {n}; {_WHAT}")
    return n


def load_population_mesh(path: str | Path) -> PopulationMesh:
    """Read an e-Stat 500 m mesh population CSV (see the module docstring).

    Hidden squares (``*``, ``-``) count as 0. Rows for the same code are summed.

    Raises
    ------
    PopulationMeshError
        For a missing file or a file in another format; the message names the file and says
        which format is expected.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise PopulationMeshError(f"{p}: no such population mesh file; {_WHAT}") from None
    except OSError as exc:
        raise PopulationMeshError(f"{p}: cannot be read ({exc}); {_WHAT}") from None
    rows = [r for r in csv.reader(io.StringIO(_decode(raw, p))) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise PopulationMeshError(f"{p}: fewer than two rows; {_WHAT}")
    head = [c.strip().upper() for c in rows[0]]
    if "KEY_CODE" not in head:
        raise PopulationMeshError(f"{p}: no KEY_CODE column in the first row; {_WHAT}")
    key = head.index("KEY_CODE")
    labels = [c.strip() for c in rows[1]]
    total_col = _find(labels, older=False)
    older_col = _find(labels, older=True)
    if total_col is None:
        raise PopulationMeshError(f"{p}: no column labelled 人口（総数） in the second row; {_WHAT}")
    sums: dict[str, list[int]] = {}
    for line, r in enumerate(rows[2:], start=3):
        code = r[key].strip() if key < len(r) else ""
        try:
            mesh_box(code)
        except ValueError as exc:
            raise PopulationMeshError(f"{p}: line {line}: {exc}; {_WHAT}") from None
        if len(code) != 9:
            raise PopulationMeshError(
                f"{p}: line {line}: mesh code {code} has {len(code)} digits, the 500 m mesh has 9; {_WHAT}"
            )
        if total_col >= len(r):
            raise PopulationMeshError(f"{p}: line {line}: too few columns; {_WHAT}")
        tot = _count(r[total_col], p, line, rows[0][total_col])
        old = (
            _count(r[older_col], p, line, rows[0][older_col])
            if older_col is not None and older_col < len(r)
            else 0
        )
        acc = sums.setdefault(code, [0, 0])
        acc[0] += tot
        acc[1] += old
    if not sums:
        raise PopulationMeshError(f"{p}: no mesh rows after the two header rows; {_WHAT}")
    codes = tuple(sorted(sums))
    return PopulationMesh(
        codes=codes,
        population=np.array([sums[c][0] for c in codes], dtype=np.int64),
        older=np.array([min(sums[c][1], sums[c][0]) for c in codes], dtype=np.int64),
        source=str(p),
        has_older=older_col is not None,
    )
