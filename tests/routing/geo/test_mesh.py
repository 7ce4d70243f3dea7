"""JIS X 0410 grid-square codes and the census 500 m mesh population CSV (地域メッシュ統計)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ondemand.errors import PopulationMeshError
from ondemand.routing.geo.mesh import load_population_mesh, mesh_box, mesh_code


def test_first_level_5235() -> None:
    """1st-level square 5235 spans lat 34.6667-35.3333 and lon 135-136."""
    w, s, e, n = mesh_box("5235")
    assert (w, e) == (135.0, 136.0)
    assert s == pytest.approx(34 + 40 / 60)
    assert n == pytest.approx(35 + 20 / 60)


def test_tokyo_station_third_level() -> None:
    """53394611 (around Tokyo station) is 35.675-35.68333 N, 139.7625-139.775 E (a 30" x 45" square)."""
    w, s, e, n = mesh_box(53394611)
    assert (w, s, e, n) == pytest.approx((139.7625, 35.675, 139.775, 35.675 + 1 / 120))


def test_quarters_of_a_500m_square() -> None:
    """The 4th-level digit numbers the quarters 1 SW, 2 SE, 3 NW, 4 NE of the 1 km square."""
    w, s, e, n = mesh_box("51357363")  # 3rd level, in Senboku
    mw, ms = (w + e) / 2, (s + n) / 2
    assert mesh_box("513573631") == pytest.approx((w, s, mw, ms))
    assert mesh_box("513573632") == pytest.approx((mw, s, e, ms))
    assert mesh_box("513573633") == pytest.approx((w, ms, mw, n))
    assert mesh_box("513573634") == pytest.approx((mw, ms, e, n))
    assert mesh_box("5135")[0] == 135.0
    assert mesh_box("5135")[1] == pytest.approx(34.0)


@given(
    st.integers(30, 68),
    st.integers(22, 53),
    st.integers(0, 7),
    st.integers(0, 7),
    st.integers(0, 9),
    st.integers(0, 9),
    st.integers(1, 4),
)
def test_children_tile_their_parent(p: int, u: int, q: int, v: int, r: int, w: int, m: int) -> None:
    """Every code's box lies inside its parent's box, and a 500 m square is a quarter of its 1 km one."""
    codes = [
        f"{p:02d}{u:02d}",
        f"{p:02d}{u:02d}{q}{v}",
        f"{p:02d}{u:02d}{q}{v}{r}{w}",
        f"{p:02d}{u:02d}{q}{v}{r}{w}{m}",
    ]
    boxes = [mesh_box(c) for c in codes]
    for (pw, ps, pe, pn), (cw, cs, ce, cn) in itertools.pairwise(boxes):
        assert pw - 1e-12 <= cw < ce <= pe + 1e-12
        assert ps - 1e-12 <= cs < cn <= pn + 1e-12
    (a, b, c, d), (e, f, g, h) = boxes[2], boxes[3]
    assert (g - e) == pytest.approx((c - a) / 2)
    assert (h - f) == pytest.approx((d - b) / 2)


@given(
    st.floats(122.0, 153.99, allow_nan=False),
    st.floats(20.0, 45.99, allow_nan=False),
    st.sampled_from([4, 6, 8, 9, 10, 11]),
)
def test_code_of_a_point_holds_it(lon: float, lat: float, digits: int) -> None:
    """mesh_code gives a code of the asked length whose box holds the point."""
    code = mesh_code(lon, lat, digits=digits)
    w, s, e, n = mesh_box(code)
    assert len(code) == digits
    assert w - 1e-9 <= lon <= e + 1e-9
    assert s - 1e-9 <= lat <= n + 1e-9


def test_code_of_tokyo_station() -> None:
    """Tokyo station (139.767 E, 35.678 N) is in 3rd-level square 53394611 and 1st-level 5339."""
    assert mesh_code(139.767, 35.678, digits=8) == "53394611"
    assert mesh_code(139.767, 35.678, digits=4) == "5339"


@pytest.mark.parametrize("code", ["523", "52356", "5235a", "52358800", "523500005", ""])
def test_bad_codes_are_refused(code: str) -> None:
    """Codes of a wrong length or with impossible digits raise ValueError naming the code."""
    with pytest.raises(ValueError, match="mesh code"):
        mesh_box(code)


_CSV = (
    "KEY_CODE,HTKSYORI,HTKSAKI,GASSAN,T001101001,T001101002,T001101003,T001101010\n"
    ",,,,人口（総数）,人口（総数）　男,人口（総数）　女,65歳以上人口　総数\n"
    "513573631,0,,,1200,580,620,400\n"
    "513573632,0,,,*,*,*,*\n"
    "513573633,0,,,35,20,15,10\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_reads_estat_csv_in_either_encoding(tmp_path: Path, encoding: str) -> None:
    """The e-Stat CSV (codes row, labels row) gives population and 65+ per square; hidden '*' is 0."""
    f = tmp_path / "mesh.csv"
    f.write_bytes(_CSV.encode(encoding))
    mesh = load_population_mesh(f)
    assert mesh.codes == ("513573631", "513573632", "513573633")
    assert mesh.population.tolist() == [1200, 0, 35]
    assert mesh.older.tolist() == [400, 0, 10]
    pts = mesh.locate(
        np.array([mesh_box("513573633")[0] + 1e-5, 0.0]), np.array([mesh_box("513573633")[1] + 1e-5, 0.0])
    )
    assert pts.tolist() == [2, -1]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("code,pop\n513573631,5\n", "no KEY_CODE column"),
        ("KEY_CODE,T1\n,男\n513573631,5\n", "no column labelled 人口（総数）"),
        ("KEY_CODE,T1\n,人口（総数）\n51357363,5\n", "the 500 m mesh has 9"),
        ("KEY_CODE,T1\n,人口（総数）\n513573631,many\n", "is not a count"),
        ("KEY_CODE,T1\n", "fewer than two rows"),
    ],
)
def test_wrong_format_names_the_file(tmp_path: Path, text: str, needle: str) -> None:
    """A file in another format is refused with its name, what is wrong and the expected format."""
    f = tmp_path / "people.csv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(PopulationMeshError) as err:
        load_population_mesh(f)
    msg = str(err.value)
    assert str(f) in msg
    assert needle in msg
    assert "地域メッシュ統計" in msg


def test_missing_mesh_file(tmp_path: Path) -> None:
    """A missing mesh file is named in the message."""
    with pytest.raises(PopulationMeshError, match="no such population mesh file"):
        load_population_mesh(tmp_path / "none.csv")
