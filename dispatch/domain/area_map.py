"""The area map (片区地图): service areas' outlines, checked and drawn without a tile server.

Pure Python. The outlines come from a GeoJSON file (``config/areas.geojson``):
a ``FeatureCollection`` with one ``Feature`` per area of ``config/areas.toml``,
its ``properties.code`` the area's code and its geometry a ``Polygon`` or
``MultiPolygon`` in longitude/latitude (WGS 84). The file is read strictly
through marshmallow (:mod:`hotline.domain.strict_schema`): a feature naming an
unknown area, two features for one area, an area without a feature, a ring
that is not closed, has fewer than four positions, crosses itself or encloses
nothing, or a position outside longitude/latitude, are refused in one line
naming the file and the feature.

The outlines are projected onto a view box for an inline SVG: equirectangular,
longitudes scaled by the cosine of the middle latitude (true to shape over a
city's extent), fitted to the box with a margin and centred. Map tiles, where a
tile server is configured, are placed by the same projection
(:func:`tiles_for`): each Web Mercator tile is stretched between its corners'
projected points, which over a few tens of kilometres is within a pixel.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from hotline.domain.strict_schema import Items, Member, StrictTable, first_error

#: A longitude/latitude pair.
Position = tuple[float, float]
#: A polygon: its outer ring, then any holes; each ring closed (first == last).
Polygon = tuple[tuple[Position, ...], ...]


class MapFileError(ValueError):
    """The outlines file cannot be used; the message names the file and the feature."""


# -- the file's shape ----------------------------------------------------------------------


class _Geometry(fields.Field):
    """A GeoJSON ``Polygon`` or ``MultiPolygon``, loaded as a tuple of :data:`Polygon`."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "{message}",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return _geometry(value)
        except ValueError as exc:
            raise self.make_error("invalid", message=str(exc)) from None


class _Properties(Schema):
    """A feature's properties: its area's code; other properties are kept out of the way."""

    class Meta:
        unknown = EXCLUDE

    code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        error_messages={"required": "missing"},
    )


class _FeatureSchema(StrictTable):
    type = Member(("Feature",), "type", required=True)
    id = fields.Raw()
    properties = fields.Nested(_Properties, required=True)
    geometry = _Geometry(required=True)


class _CollectionSchema(StrictTable):
    type = Member(("FeatureCollection",), "type", required=True)
    name = fields.String()
    crs = fields.Raw()
    features = Items(fields.Raw(), required=True)


def _position(value: Any) -> Position:
    if (
        not isinstance(value, list)
        or len(value) not in (2, 3)
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
    ):
        raise ValueError(f"expected a position [longitude, latitude], got {value!r}")
    lon, lat = float(value[0]), float(value[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"position {value!r} is outside longitude -180..180, latitude -90..90")
    return lon, lat


def _segments_cross(a: Position, b: Position, c: Position, d: Position) -> bool:
    """Whether segments ab and cd properly cross (touching ends do not count)."""

    def side(p: Position, q: Position, r: Position) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2 = side(c, d, a), side(c, d, b)
    d3, d4 = side(a, b, c), side(a, b, d)
    return ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4))


def ring_area(ring: Sequence[Position]) -> float:
    """The signed area of a closed ring in square degrees (shoelace; counter-clockwise > 0)."""
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring)) / 2


def _ring(value: Any, which: str) -> tuple[Position, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{which}: expected a list of positions, got {value!r}")
    ring = tuple(_position(p) for p in value)
    if len(ring) < 4:
        raise ValueError(f"{which}: a ring needs at least 4 positions, got {len(ring)}")
    if ring[0] != ring[-1]:
        raise ValueError(
            f"{which}: the ring is not closed (the last position must repeat the first)"
        )
    if abs(ring_area(ring)) < 1e-12:
        raise ValueError(f"{which}: the ring encloses no area")
    edges = list(itertools.pairwise(ring))
    for i, (a, b) in enumerate(edges):
        for j in range(i + 2, len(edges)):
            if i == 0 and j == len(edges) - 1:
                continue  # the closing edge meets the first at the ring's start
            c, d = edges[j]
            if _segments_cross(a, b, c, d):
                raise ValueError(f"{which}: the ring crosses itself (edges {i} and {j})")
    return ring


def _polygon(value: Any, which: str) -> Polygon:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{which}: expected a list of rings, got {value!r}")
    return tuple(_ring(ring, f"{which} ring {n}") for n, ring in enumerate(value))


def _geometry(value: Any) -> tuple[Polygon, ...]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a geometry object, got {value!r}")
    kind = value.get("type")
    unknown = sorted(set(value) - {"type", "coordinates", "bbox"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in the geometry")
    coordinates = value.get("coordinates")
    if kind == "Polygon":
        return (_polygon(coordinates, "polygon"),)
    if kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise ValueError(f"expected a list of polygons, got {coordinates!r}")
        return tuple(_polygon(p, f"polygon {n}") for n, p in enumerate(coordinates))
    raise ValueError(f"unknown geometry type {kind!r}; expected Polygon or MultiPolygon")


# -- the outlines --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """A box in longitude/latitude."""

    west: float
    south: float
    east: float
    north: float

    @classmethod
    def around(cls, positions: Iterable[Position]) -> Bounds:
        """The smallest box holding ``positions`` (at least one)."""
        lons, lats = zip(*positions, strict=True)
        return cls(min(lons), min(lats), max(lons), max(lats))

    def union(self, other: Bounds) -> Bounds:
        return Bounds(
            min(self.west, other.west),
            min(self.south, other.south),
            max(self.east, other.east),
            max(self.north, other.north),
        )


@dataclass(frozen=True)
class Outline:
    """One area's outline: its code and its polygons."""

    code: str
    polygons: tuple[Polygon, ...]

    @property
    def bounds(self) -> Bounds:
        return Bounds.around(p for polygon in self.polygons for p in polygon[0])


def bounds_of(outlines: Iterable[Outline]) -> Bounds:
    """The box holding every outline (at least one)."""
    boxes = [outline.bounds for outline in outlines]
    if not boxes:
        raise ValueError("no outlines")
    box = boxes[0]
    for other in boxes[1:]:
        box = box.union(other)
    return box


def outlines_from(data: Any, codes: Sequence[str]) -> tuple[Outline, ...]:
    """The outlines of parsed GeoJSON ``data``, one per code of ``codes``, in their order.

    Raises :class:`MapFileError` naming the feature (``features[2] (code 'X')``).
    """
    try:
        collection = _CollectionSchema().load(data)
    except ValidationError as error:
        path, message = first_error(error.messages)
        where = ".".join(str(p) for p in path)
        raise MapFileError(f"{where or 'file'}: {message}") from None
    known = {code.casefold(): code for code in codes}
    found: dict[str, tuple[int, Outline]] = {}
    for index, raw in enumerate(collection["features"]):
        code = raw.get("properties", {}).get("code") if isinstance(raw, Mapping) else None
        name = f"features[{index}]" + (f" (code {code!r})" if isinstance(code, str) else "")
        try:
            feature = _FeatureSchema().load(raw)
        except ValidationError as error:
            path, message = first_error(error.messages)
            where = ".".join(str(p) for p in path)
            raise MapFileError(f"{name}: {where}: {message}") from None
        code = feature["properties"]["code"]
        canonical = known.get(code.casefold())
        if canonical is None:
            listed = ", ".join(codes) or "none"
            raise MapFileError(f"{name}: unknown area code {code!r}; the areas are {listed}")
        if canonical in found:
            raise MapFileError(
                f"{name}: area {canonical!r} already has features[{found[canonical][0]}]"
            )
        found[canonical] = (index, Outline(canonical, feature["geometry"]))
    missing = [code for code in codes if code not in found]
    if missing:
        raise MapFileError(f"no feature for area {missing[0]!r} (every area needs an outline)")
    return tuple(found[code][1] for code in codes)


def load_outlines(path: Path, codes: Sequence[str]) -> tuple[Outline, ...]:
    """Read ``path``; raises :class:`MapFileError` naming the file and the feature."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MapFileError(f"area outlines file not found: {path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MapFileError(f"{path}: not GeoJSON: {exc}") from None
    try:
        return outlines_from(data, codes)
    except MapFileError as exc:
        raise MapFileError(f"{path}: {exc}") from None


# -- the projection ------------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """Longitude/latitude to view-box units: equirectangular with cos(middle latitude)."""

    bounds: Bounds
    width: float
    height: float
    scale: float  # view-box units per degree of latitude
    cos_lat: float
    offset_x: float
    offset_y: float

    @classmethod
    def fit(cls, bounds: Bounds, width: float, height: float, margin: float = 0) -> Projection:
        """The projection showing ``bounds`` whole inside ``width`` × ``height``, centred."""
        cos_lat = math.cos(math.radians((bounds.south + bounds.north) / 2))
        span_x = max((bounds.east - bounds.west) * cos_lat, 1e-9)
        span_y = max(bounds.north - bounds.south, 1e-9)
        scale = min((width - 2 * margin) / span_x, (height - 2 * margin) / span_y)
        offset_x = (width - span_x * scale) / 2
        offset_y = (height - span_y * scale) / 2
        return cls(bounds, width, height, scale, cos_lat, offset_x, offset_y)

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        """Where (``lon``, ``lat``) falls in the view box (y grows downwards)."""
        x = self.offset_x + (lon - self.bounds.west) * self.cos_lat * self.scale
        y = self.offset_y + (self.bounds.north - lat) * self.scale
        return x, y

    def path(self, outline: Outline) -> str:
        """The SVG path data of ``outline`` (draw with ``fill-rule: evenodd`` for holes)."""
        parts = []
        for polygon in outline.polygons:
            for ring in polygon:
                points = [self.point(*p) for p in ring[:-1]]
                parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in points) + "Z")
        return "".join(parts)

    def label_point(self, outline: Outline) -> tuple[float, float]:
        """Where the area's labels go: the centroid of its largest polygon's outer ring."""
        ring = max((p[0] for p in outline.polygons), key=lambda r: abs(ring_area(r)))
        points = [self.point(*p) for p in ring]
        area = cx = cy = 0.0
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            cross = x0 * y1 - x1 * y0
            area += cross
            cx += (x0 + x1) * cross
            cy += (y0 + y1) * cross
        if abs(area) < 1e-9:
            return points[0]
        return cx / (3 * area), cy / (3 * area)


# -- tiles (only where a tile server is configured) ----------------------------------------

#: The most tiles a page draws; a finer zoom than that is not used.
MAX_TILES = 36
#: The pixels of one tile.
TILE_PIXELS = 256


@dataclass(frozen=True)
class Tile:
    """One map tile: its address and its box in view-box units."""

    z: int
    x: int
    y: int
    left: float
    top: float
    width: float
    height: float

    def url(self, template: str) -> str:
        return (
            template.replace("{z}", str(self.z))
            .replace("{x}", str(self.x))
            .replace("{y}", str(self.y))
        )


def _tile_lon(x: int, z: int) -> float:
    return x / 2**z * 360 - 180


def _tile_lat(y: int, z: int) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / 2**z))))


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    lat_r = math.radians(max(min(lat, 85.0511), -85.0511))
    y = int((1 - math.asinh(math.tan(lat_r)) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tile_zoom(projection: Projection) -> int:
    """The zoom whose tiles come closest to :data:`TILE_PIXELS` on the view box."""
    per_degree_lon = projection.scale * projection.cos_lat
    return max(0, min(19, round(math.log2(per_degree_lon * 360 / TILE_PIXELS))))


def tiles_for(projection: Projection, zoom: int | None = None) -> list[Tile]:
    """The tiles covering the view box at ``zoom`` (default :func:`tile_zoom`), each
    placed between its corners' projected points; coarser while more than :data:`MAX_TILES`."""
    z = tile_zoom(projection) if zoom is None else zoom
    p = projection
    west = p.bounds.west - p.offset_x / (p.scale * p.cos_lat)
    east = p.bounds.west + (p.width - p.offset_x) / (p.scale * p.cos_lat)
    north = p.bounds.north + p.offset_y / p.scale
    south = p.bounds.north - (p.height - p.offset_y) / p.scale
    while True:
        x0, y0 = _tile_xy(west, north, z)
        x1, y1 = _tile_xy(east, south, z)
        if (x1 - x0 + 1) * (y1 - y0 + 1) <= MAX_TILES or z == 0:
            break
        z -= 1
    tiles = []
    for ty in range(y0, y1 + 1):
        for tx in range(x0, x1 + 1):
            left, top = p.point(_tile_lon(tx, z), _tile_lat(ty, z))
            right, bottom = p.point(_tile_lon(tx + 1, z), _tile_lat(ty + 1, z))
            tiles.append(Tile(z, tx, ty, left, top, right - left, bottom - top))
    return tiles


# -- shading -------------------------------------------------------------------------------

#: How many shades the map uses for areas with open cases (0 is its own, lightest).
SHADES = 4


def shade(count: int, most: int) -> int:
    """The shade of an area with ``count`` open cases when the busiest has ``most``: 0..SHADES."""
    if count <= 0 or most <= 0:
        return 0
    return max(1, min(SHADES, math.ceil(count * SHADES / most)))


def shade_ranges(most: int) -> list[tuple[int, int, int]]:
    """The legend: ``(shade, lowest, highest)`` for each shade in use when the busiest has ``most``."""
    out = [(0, 0, 0)]
    for level in range(1, SHADES + 1):
        low, high = (level - 1) * most // SHADES + 1, level * most // SHADES
        if low <= high:
            out.append((level, low, high))
    return out


__all__ = [
    "MAX_TILES",
    "SHADES",
    "Bounds",
    "MapFileError",
    "Outline",
    "Projection",
    "Tile",
    "bounds_of",
    "load_outlines",
    "outlines_from",
    "ring_area",
    "shade",
    "shade_ranges",
    "tile_zoom",
    "tiles_for",
]
