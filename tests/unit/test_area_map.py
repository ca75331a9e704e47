"""The area map's geometry: the outlines file's checks, the projection, bounds, shades, tiles."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from dispatch.domain.area_map import (
    Bounds,
    MapFileError,
    Projection,
    bounds_of,
    load_outlines,
    outlines_from,
    shade,
    shade_ranges,
    tiles_for,
)
from hotline.domain.address_areas import AreaMap

ROOT = Path(__file__).resolve().parents[2]
CODES = ["A", "B"]
SQUARE = [[[116.0, 36.0], [117.0, 36.0], [117.0, 37.0], [116.0, 37.0], [116.0, 36.0]]]


def _file(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def _feature(code: str, coordinates: list = SQUARE, kind: str = "Polygon") -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code},
        "geometry": {"type": kind, "coordinates": coordinates},
    }


GOOD = _file(_feature("A"), _feature("B", [[[117, 36], [118, 36], [118, 37], [117, 36]]]))


def test_the_shipped_outlines_cover_every_shipped_area_around_yucheng() -> None:
    areas = AreaMap.load(ROOT / "config" / "areas.toml")
    codes = [a.code for a in areas.areas]
    outlines = load_outlines(ROOT / "config" / "areas.geojson", codes)
    assert [o.code for o in outlines] == codes
    box = bounds_of(outlines)
    assert 116.3 < box.west < box.east < 117.0
    assert 36.6 < box.south < box.north < 37.3


def test_outlines_come_in_the_areas_order_and_codes_match_in_any_case() -> None:
    data = _file(_feature("b", [[[117, 36], [118, 36], [118, 37], [117, 36]]]), _feature("A"))
    assert [o.code for o in outlines_from(data, CODES)] == ["A", "B"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["features"][1]["properties"].update(code="ZZ"),
            "features[1] (code 'ZZ'): unknown area code 'ZZ'; the areas are A, B",
        ),
        (lambda d: d["features"].pop(), "no feature for area 'B'"),
        (
            lambda d: d["features"][1]["properties"].update(code="A"),
            "features[1] (code 'A'): area 'A' already has features[0]",
        ),
        (
            lambda d: d["features"][0]["geometry"]["coordinates"][0].pop(),
            "features[0] (code 'A'): geometry: polygon ring 0: the ring is not closed",
        ),
        (
            lambda d: d["features"][0]["geometry"].update(
                coordinates=[[[116, 36], [117, 36], [116, 36]]]
            ),
            "a ring needs at least 4 positions, got 3",
        ),
        (
            lambda d: d["features"][0]["geometry"].update(
                coordinates=[[[116, 36], [118, 37], [118, 36], [116, 37.5], [116, 36]]]
            ),
            "the ring crosses itself",
        ),
        (
            lambda d: d["features"][0]["geometry"].update(
                coordinates=[[[116, 36], [117, 36], [118, 36], [116, 36]]]
            ),
            "the ring encloses no area",
        ),
        (
            lambda d: d["features"][0]["geometry"].update(
                coordinates=[[[116, 36], [117, 95], [117, 36], [116, 36]]]
            ),
            "outside longitude -180..180, latitude -90..90",
        ),
        (
            lambda d: d["features"][0]["geometry"].update(type="Point"),
            "unknown geometry type 'Point'",
        ),
        (
            lambda d: d["features"][0]["properties"].pop("code"),
            "features[0]: properties.code: missing",
        ),
        (lambda d: d["features"][0].update(extra=1), "features[0] (code 'A'): extra: unknown key"),
        (lambda d: d.update(type="Feature"), "type: unknown type 'Feature'"),
    ],
)
def test_a_bad_outlines_file_is_refused_naming_the_feature(change, message) -> None:
    data = copy.deepcopy(GOOD)
    change(data)
    with pytest.raises(MapFileError) as refused:
        outlines_from(data, CODES)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_loading_names_the_file(tmp_path: Path) -> None:
    bad = copy.deepcopy(GOOD)
    bad["features"][0]["properties"]["code"] = "NOPE"
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(MapFileError, match=rf"^{path}: features\[0\] \(code 'NOPE'\)"):
        load_outlines(path, CODES)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(MapFileError, match="not GeoJSON"):
        load_outlines(path, CODES)
    with pytest.raises(MapFileError, match="not found"):
        load_outlines(tmp_path / "missing.geojson", CODES)


def test_bounds_hold_every_outline_and_multipolygons() -> None:
    multi = _feature(
        "B",
        [
            [[[120, 10], [121, 10], [121, 11], [120, 10]]],
            [[[100, -5], [101, -5], [101, -4], [100, -5]]],
        ],
        "MultiPolygon",
    )
    outlines = outlines_from(_file(_feature("A"), multi), CODES)
    assert bounds_of(outlines) == Bounds(100, -5, 121, 37)


def test_the_projection_fits_the_box_centred_and_scales_longitude_by_cos_latitude() -> None:
    box = Bounds(116.0, 36.0, 117.0, 37.0)
    p = Projection.fit(box, 800, 600, 20)
    cos = math.cos(math.radians(36.5))
    # taller than wide after scaling: the height decides the scale
    assert p.scale == pytest.approx(560)
    assert p.point(116.0, 37.0) == pytest.approx(((800 - 560 * cos) / 2, 20))
    assert p.point(117.0, 36.0) == pytest.approx(((800 + 560 * cos) / 2, 580))
    west_x, _ = p.point(116.0, 36.5)
    east_x, _ = p.point(117.0, 36.5)
    assert (east_x - west_x) / 560 == pytest.approx(cos)
    wide = Projection.fit(Bounds(100, 0, 120, 1), 800, 600, 0)
    assert wide.point(100, 1)[0] == pytest.approx(0)
    assert wide.point(120, 1)[0] == pytest.approx(800)


def test_paths_and_labels_lie_inside_the_view_box() -> None:
    areas = AreaMap.load(ROOT / "config" / "areas.toml")
    outlines = load_outlines(ROOT / "config" / "areas.geojson", [a.code for a in areas.areas])
    p = Projection.fit(bounds_of(outlines), 800, 600, 24)
    for outline in outlines:
        numbers = [
            float(n)
            for n in p.path(outline)
            .replace("M", " ")
            .replace("L", " ")
            .replace("Z", " ")
            .replace(",", " ")
            .split()
        ]
        assert all(-0.1 <= n <= 800.1 for n in numbers[0::2])
        assert all(-0.1 <= n <= 600.1 for n in numbers[1::2])
        x, y = p.label_point(outline)
        assert 24 <= x <= 776 and 24 <= y <= 576


def test_shades_grow_with_the_count_and_the_legend_covers_every_count() -> None:
    assert shade(0, 5) == 0
    assert shade(5, 5) == 4
    assert shade(1, 100) == 1
    for most in (1, 3, 7, 40):
        ranges = shade_ranges(most)
        covered = [n for _level, low, high in ranges[1:] for n in range(low, high + 1)]
        assert covered == list(range(1, most + 1))
        assert all(shade(n, most) == level for level, low, high in ranges[1:] for n in (low, high))


def test_tiles_cover_the_view_box_and_stay_few() -> None:
    p = Projection.fit(Bounds(116.45, 36.72, 116.82, 37.16), 800, 600, 24)
    tiles = tiles_for(p)
    assert 0 < len(tiles) <= 36
    assert min(t.left for t in tiles) <= 0 and max(t.left + t.width for t in tiles) >= 800
    assert min(t.top for t in tiles) <= 0 and max(t.top + t.height for t in tiles) >= 600
    assert tiles[0].url("https://t.example.cn/{z}/{x}/{y}.png") == (
        f"https://t.example.cn/{tiles[0].z}/{tiles[0].x}/{tiles[0].y}.png"
    )
