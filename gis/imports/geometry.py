"""Where each row is: the file's geometry or its coordinate columns, in the CRS the file states
(a CRS column, --crs, the .prj, or what the numbers can only be), as EPSG:4326 lon/lat."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from gis import crs as crs_
from gis.errors import InvalidInput, RebuildError
from gis.imports import values
from gis.imports.problems import Problems
from gis.imports.read import Sheet
from gis.vocab import LAYERS

_LONLAT_CHINA = ((73.0, 136.0), (3.0, 54.0))
_ZONED_EASTING = (25e6, 46e6)
_NORTHING = (2e6, 6e6)
_PLAIN_EASTING = (1e5, 9e5)


@dataclass
class Located:
    geometry: np.ndarray  # shapely geometries in EPSG:4326 (None where a row has none)
    crs: np.ndarray  # the CRS each row was read in ("EPSG:n", "GCJ-02", "BD-09")
    notes: list[tuple[str, str]] = field(default_factory=list)


def _within(values_: np.ndarray, bounds: tuple[float, float]) -> bool:
    finite = values_[np.isfinite(values_)]
    return len(finite) > 0 and bool(((finite >= bounds[0]) & (finite <= bounds[1])).all())


def _guess(x: np.ndarray, y: np.ndarray) -> tuple[str | None, bool, tuple[str, str] | None]:
    """For coordinates whose CRS nobody stated: the CRS they can only be in, whether x and y
    are swapped, and a note; (None, False, None) when the numbers do not say."""
    if _within(x, _LONLAT_CHINA[0]) and _within(y, _LONLAT_CHINA[1]):
        return (
            "EPSG:4326",
            False,
            (
                "未说明坐标系，按 WGS84 经纬度读取（如取自高德、腾讯地图，请加 --crs GCJ-02；"
                "百度地图 --crs BD-09）",
                "no CRS stated: read as WGS84 lon/lat (from a phone map app: --crs GCJ-02; "
                "Baidu: --crs BD-09)",
            ),
        )
    if _within(y, _LONLAT_CHINA[0]) and _within(x, _LONLAT_CHINA[1]):
        return (
            "EPSG:4326",
            True,
            (
                "经纬度两列写反了（纬度在前），已按经度、纬度读取",
                "longitude and latitude columns were swapped; read the other way round",
            ),
        )
    for east, north, swapped in ((x, y, False), (y, x, True)):
        if _within(east, _ZONED_EASTING) and _within(north, _NORTHING):
            zones = np.unique(np.floor(east[np.isfinite(east)] / 1e6).astype(int))
            if len(zones) == 1 and int(zones[0]) in crs_.GK3_ZONED:
                code = f"EPSG:{crs_.GK3_ZONED[int(zones[0])]}"
                return (
                    code,
                    swapped,
                    (
                        f"未说明坐标系：横坐标带带号 {zones[0]}，按 CGCS2000 3度带第 {zones[0]} 带"
                        f"（{code}）读取"
                        + ("；X 为北坐标，已对调" if swapped else "")
                        + "。如为西安80或北京54坐标，请用 --crs 指定",
                        f"no CRS stated: eastings carry zone {zones[0]}, read as CGCS2000 3-degree "
                        f"Gauss-Kruger zone {zones[0]} ({code})"
                        + (", X as northing" if swapped else "")
                        + "; if Xi'an 80 or Beijing 54, say so with --crs",
                    ),
                )
        if _within(east, _PLAIN_EASTING) and _within(north, _NORTHING):
            raise InvalidInput(
                "坐标是投影坐标（米），但未说明坐标系，横坐标也不带带号。请加 --crs，新乡市一般为 "
                "CGCS2000-GK3-114E（3度带中央经线 114°，EPSG:4547）",
                "The coordinates are projected metres with no CRS stated and no zone number in "
                "the easting; give --crs, for Xinxiang usually CGCS2000-GK3-114E (EPSG:4547).",
                field="crs",
            )
    return None, False, None


def _expected_easting(code: str) -> tuple[float, float] | None:
    epsg = int(code.split(":")[1]) if code.startswith("EPSG:") else 0
    zoned = {v: z for z, v in crs_.GK3_ZONED.items()}
    if epsg in zoned:
        return zoned[epsg] * 1e6, zoned[epsg] * 1e6 + 1e6
    if epsg in crs_.GK3_BY_MERIDIAN.values():
        return _PLAIN_EASTING
    return None


def locate(
    sheet: Sheet,
    fields: dict[str, str],
    *,
    stated: str | None,
    problems: Problems,
    required: bool = True,
) -> Located:
    """Each row's geometry in EPSG:4326. ``fields`` maps a field (lon, lat, x, y, wkt, crs) to
    the file's header; ``stated`` is --crs (or the mapping file's). Unless ``required`` (an
    update may leave the locations as they are), a file without coordinates is refused."""
    frame, n = sheet.frame, len(sheet.frame)
    notes: list[tuple[str, str]] = []
    default = crs_.import_crs(stated) if stated else sheet.crs
    if sheet.geometry is not None and not shapely.is_missing(sheet.geometry).all():
        source_geoms = sheet.geometry
        xy = None
    else:
        source_geoms = None
        if not required and not {"lon", "lat", "x", "y", "wkt"} & set(fields):
            return Located(np.full(n, None, dtype=object), np.full(n, "", dtype=object))
        xy = _coordinate_columns(frame, fields, problems)
    per_row = np.full(n, None, dtype=object)
    if "crs" in fields:
        column = frame[fields["crs"]]
        for text in pd.unique(column.to_numpy()):
            if not text:
                continue
            rows = (column == text).to_numpy()
            try:
                per_row[rows] = crs_.import_crs(text)
            except RebuildError as exc:
                problems.add(
                    rows,
                    field="crs",
                    zh=exc.zh,
                    en=exc.en,
                    column=fields["crs"],
                    values=column.to_numpy(),
                )
    if default is None and xy is not None:
        unstated = per_row == None  # noqa: E711 - elementwise on an object array
        default, swapped, note = _guess(xy[0][unstated], xy[1][unstated])
        if swapped:
            xy = (xy[1], xy[0])
        if note:
            notes.append(note)
    if default is None:
        default = "EPSG:4326"
        notes.append(("文件未说明坐标系，按 WGS84 经纬度读取", "no CRS stated: read as WGS84"))
    per_row[per_row == None] = default  # noqa: E711
    if xy is not None:
        xy = _swap_surveyors_axes(xy, default, notes)
        source_geoms = np.full(n, None, dtype=object)
        both = np.isfinite(xy[0]) & np.isfinite(xy[1])
        source_geoms[both] = shapely.points(xy[0][both], xy[1][both])
        if "wkt" in fields:
            source_geoms[~both] = _wkt(frame[fields["wkt"]], ~both, problems, fields["wkt"])
    geometry = np.full(n, None, dtype=object)
    for code in pd.unique(per_row):
        rows = per_row == code
        geometry[rows] = _to_storage(source_geoms[rows], code)
    return Located(geometry, per_row.astype(str), notes)


def _coordinate_columns(
    frame: pd.DataFrame, fields: dict[str, str], problems: Problems
) -> tuple[np.ndarray, np.ndarray]:
    pairs = [("lon", "lat"), ("x", "y")]
    pair = next((p for p in pairs if p[0] in fields and p[1] in fields), None)
    if pair is None:
        if "wkt" in fields:
            nan = np.full(len(frame), np.nan)
            return nan, nan.copy()
        raise InvalidInput(
            "文件没有几何，也没有坐标列。请加“经度”“纬度”两列（或 X、Y 坐标列、WKT 几何列），"
            "或提供 GeoPackage、Shapefile 等带几何的文件",
            "The file has no geometry and no coordinate columns: add 经度/纬度 (lon/lat), X/Y "
            "or a WKT column, or send a GeoPackage or Shapefile.",
            field="geometry",
        )
    out = []
    for name in pair:
        header = fields[name]
        parsed, bad = values.numbers(frame[header])
        problems.add(
            bad,
            field="geometry",
            column=header,
            values=frame[header].to_numpy(),
            zh="“{value}”不是数字，请填写十进制坐标（如 114.07）或度分秒（如 114°04′12″）",
            en="{value!r} is not a number: write decimal degrees (114.07) or degrees, minutes, "
            "seconds (114°04′12″).".replace("{value!r}", "'{value}'"),
        )
        out.append(parsed)
    missing = np.isnan(out[0]) ^ np.isnan(out[1])
    problems.add(
        missing & ~problems.bad,
        field="geometry",
        column=f"{fields[pair[0]]}/{fields[pair[1]]}",
        zh="只填了一个坐标，请把两个坐标都填上",
        en="Only one of the two coordinates is filled in; fill in both.",
    )
    return out[0], out[1]


def _wkt(column: pd.Series, rows: np.ndarray, problems: Problems, header: str) -> np.ndarray:
    texts = column.to_numpy()[rows]
    parsed = shapely.from_wkt(np.where(texts == "", None, texts), on_invalid="ignore")
    bad = np.zeros(len(column), dtype=bool)
    bad[np.flatnonzero(rows)[shapely.is_missing(parsed) & (texts != "")]] = True
    problems.add(
        bad,
        field="geometry",
        column=header,
        values=column.to_numpy(),
        zh="几何“{value}”不是有效的 WKT，如 POINT (114.07 35.30)",
        en="'{value}' is not WKT, e.g. POINT (114.07 35.30).",
    )
    return shapely.force_2d(parsed)


def _swap_surveyors_axes(
    xy: tuple[np.ndarray, np.ndarray], code: str, notes: list[tuple[str, str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Surveyors write X for the northing and Y for the easting; seen from the numbers."""
    easting = _expected_easting(code)
    if easting and not _within(xy[0], easting) and _within(xy[1], easting):
        notes.append(
            ("X 为北坐标、Y 为东坐标（测量习惯），已对调", "X read as northing, Y as easting")
        )
        return xy[1], xy[0]
    return xy


def _to_storage(geoms: np.ndarray, code: str) -> np.ndarray:
    """``geoms`` in ``code`` as EPSG:4326; a coordinate that cannot be converted is NaN."""
    present = ~shapely.is_missing(geoms)
    out = np.full(len(geoms), None, dtype=object)
    if not present.any():
        return out
    if code in crs_.AS_STORED:
        out[present] = geoms[present]
        return out

    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = crs_.xy_to_storage(coords[:, 0], coords[:, 1], code)
        return np.column_stack([lon, lat])

    out[present] = shapely.transform(geoms[present], convert)
    return out


def check(geometry: np.ndarray, layer: str, problems: Problems) -> np.ndarray:
    """Rows whose geometry the layer cannot take get a problem (a missing one is for the caller
    to judge: an update may leave the location as it is); single-part multi-points of a point
    layer become points. Returns the geometries to store."""
    missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    present = ~missing
    allowed = LAYERS[layer].geometry_types
    type_ids = np.full(len(geometry), -1)
    type_ids[present] = shapely.get_type_id(geometry[present])
    single = present & (type_ids == 4) & (shapely.get_num_geometries(geometry) == 1)
    if "Point" in allowed and "MultiPoint" not in allowed and single.any():
        geometry = geometry.copy()
        geometry[single] = shapely.get_geometry(geometry[single], 0)
    names = np.full(len(geometry), "", dtype=object)
    names[present] = _TYPE_NAMES[shapely.get_type_id(geometry[present])]
    wrong = present & ~np.isin(names, allowed)
    problems.add(
        wrong,
        field="geometry",
        values=names,
        zh=f"几何类型 {{value}} 不能用于图层 {LAYERS[layer].zh}（应为 {'、'.join(allowed)}）",
        en=f"A {layer} geometry must be {', '.join(allowed)}; this row has {{value}}.",
    )
    ok = present & ~wrong
    bounds = np.full((len(geometry), 4), np.nan)
    bounds[ok] = shapely.bounds(geometry[ok])
    nan = ok & np.isnan(bounds).any(axis=1)
    problems.add(
        nan,
        field="geometry",
        zh="坐标超出所选坐标系的范围，无法换算。请核对坐标系（--crs）和坐标",
        en="The coordinates are outside the CRS's range; check --crs and the numbers.",
    )
    lon_ok = (bounds[:, 0] >= -180) & (bounds[:, 2] <= 180)
    lat_ok = (bounds[:, 1] >= -90) & (bounds[:, 3] <= 90)
    out_of_range = ok & ~nan & ~(lon_ok & lat_ok)
    problems.add(
        out_of_range,
        field="geometry",
        zh="坐标超出经纬度范围：可能是投影坐标（米），请用 --crs 说明坐标系，"
        "或经纬度写反了（经度在前，如 114.07, 35.30）",
        en="Coordinates out of lon/lat range: projected metres (state --crs) or "
        "latitude first (longitude comes first, e.g. 114.07, 35.30).",
    )
    candidates = ok & ~nan & ~out_of_range
    invalid = np.zeros(len(geometry), dtype=bool)
    invalid[candidates] = ~shapely.is_valid(geometry[candidates])
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geometry[i])
        problems.at(
            int(i),
            field="geometry",
            zh=f"几何无效：{reason}。请修正自相交或重复点",
            en=f"Invalid geometry: {reason}. Fix self-intersections or repeated points.",
        )
    return geometry


_TYPE_NAMES = np.array(
    [
        "Point",
        "LineString",
        "LinearRing",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    ],
    dtype=object,
)
