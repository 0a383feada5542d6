"""Coordinate reference systems.

Everything is stored in one SRID: WGS 84 longitude/latitude (EPSG:4326), axis order lon, lat,
as GeoJSON and OGC API Features (CRS84) expect.

A phone reporting its location declares one of ``REPORTER_CRS``; whatever the name, the
coordinates arrive as (longitude, latitude) in degrees:

- ``EPSG:4326``: WGS 84, what GPS and the browser's geolocation give.
- ``EPSG:4490``: CGCS2000, China's national datum. It differs from WGS 84 by centimetres, far
  below phone accuracy, so it is stored unchanged.
- ``GCJ-02``: the obfuscated datum that Chinese phone map apps (Amap, Tencent) show and copy
  out; 300-700 m off WGS 84 around Xinxiang. Baidu's BD-09 adds a further offset and is not
  accepted.

No maintained, pure-Python GCJ-02 converter with an exact inverse exists on PyPI (pyproj has no
GCJ-02), so the transform is written here from the published formula: a polynomial-and-sine
offset in metres, scaled to degrees on the Krasovsky 1940 ellipsoid. The inverse solves that
offset by fixed-point iteration to below a millimetre, not the common one-step approximation
that is metres off.
"""

import math
import re

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from gis.errors import InvalidInput

STORAGE_SRID = 4326
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

REPORTER_CRS: tuple[str, ...] = ("EPSG:4326", "EPSG:4490", "GCJ-02")
# Coordinates stored as they are: WGS 84 itself, and CGCS2000, centimetres from it.
AS_STORED: tuple[str, ...] = ("EPSG:4326", "EPSG:4490")

_ALIASES = {
    "EPSG:4326": (
        "epsg:4326",
        "4326",
        "wgs84",
        "wgs-84",
        "wgs 84",
        "crs84",
        "ogc:crs84",
        CRS84_URI.lower(),
        "urn:ogc:def:crs:ogc:1.3:crs84",
        "urn:ogc:def:crs:epsg::4326",
        "http://www.opengis.net/def/crs/epsg/0/4326",
    ),
    "EPSG:4490": (
        "epsg:4490",
        "4490",
        "cgcs2000",
        "cgcs-2000",
        "cgcs 2000",
        "urn:ogc:def:crs:epsg::4490",
        "http://www.opengis.net/def/crs/epsg/0/4490",
    ),
    "GCJ-02": ("gcj-02", "gcj02", "gcj 02", "gcj_02"),
}
_CANONICAL = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}

# Krasovsky 1940, the ellipsoid the GCJ-02 formula scales its offset on.
_A = 6378245.0
_EE = 0.00669342162296594323

# The formula's own notion of "inside China": a rough box, not the border. Outside it the apps
# show WGS 84 unchanged, so a GCJ-02 point there means the client is confused.
_GCJ_LON = (72.004, 137.8347)
_GCJ_LAT = (0.8293, 55.8271)

# Iterate the inverse until the forward transform reproduces the input to 1e-10 degrees (about
# 0.01 mm); it converges in three or four steps because the offset varies slowly.
_INVERSE_TOLERANCE = 1e-10
_INVERSE_MAX_STEPS = 20


def normalise_crs(name: str) -> str:
    """The canonical name in ``REPORTER_CRS`` for a spelling such as "wgs84" or "gcj02"."""
    canonical = _CANONICAL.get(name.strip().lower())
    if canonical is None:
        raise InvalidInput(
            f"不支持的坐标系 {name!r}。请填写 EPSG:4326（WGS84，GPS 定位）、"
            "EPSG:4490（CGCS2000）或 GCJ-02（高德、腾讯等国内手机地图）",
            f"Unsupported CRS {name!r}; use EPSG:4326 (WGS 84, GPS), EPSG:4490 (CGCS2000) or "
            "GCJ-02 (Chinese phone map apps).",
            field="location.crs",
        )
    return canonical


def to_storage(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """The point (lon, lat in ``crs``, any spelling ``normalise_crs`` takes) as EPSG:4326."""
    canonical = normalise_crs(crs)
    _check_range(lon, lat)
    if canonical == "GCJ-02":
        return gcj02_to_wgs84(lon, lat)
    return float(lon), float(lat)


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 (lon, lat) that Chinese map apps show for a WGS 84 (lon, lat)."""
    _check_range(lon, lat)
    _check_in_china(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """The WGS 84 (lon, lat) whose GCJ-02 image is the given (lon, lat), to below 1 mm."""
    _check_range(lon, lat)
    _check_in_china(lon, lat)
    wgs_lon, wgs_lat = lon, lat
    for _ in range(_INVERSE_MAX_STEPS):
        dlon, dlat = _gcj_offset(wgs_lon, wgs_lat)
        err_lon = wgs_lon + dlon - lon
        err_lat = wgs_lat + dlat - lat
        if abs(err_lon) < _INVERSE_TOLERANCE and abs(err_lat) < _INVERSE_TOLERANCE:
            break
        wgs_lon -= err_lon
        wgs_lat -= err_lat
    return wgs_lon, wgs_lat


def _gcj_offset(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 minus WGS 84 at the WGS 84 point (lon, lat), in degrees (dlon, dlat)."""
    x, y = lon - 105.0, lat - 35.0
    # The published formula gives the offset in metres (roughly) as a quadratic plus sines.
    waves = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    north = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    north += waves
    north += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    north += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y / 30.0 * math.pi)) * 2 / 3
    east = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    east += waves
    east += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    east += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    # Metres to degrees on the Krasovsky ellipsoid: meridian and parallel radii of curvature.
    phi = math.radians(lat)
    w2 = 1.0 - _EE * math.sin(phi) ** 2
    meridian = _A * (1.0 - _EE) / (w2 * math.sqrt(w2))
    parallel = _A / math.sqrt(w2) * math.cos(phi)
    return math.degrees(east / parallel), math.degrees(north / meridian)


def _check_range(lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput(
            f"位置 ({lon}, {lat}) 不是有效数字，请重新定位或在地图上选点",
            f"The location ({lon}, {lat}) is not a pair of numbers; locate again or pick the "
            "point on the map.",
            field="location",
        )
    if -180 <= lon <= 180 and -90 <= lat <= 90:
        return
    # Latitude first is the commonest slip: Xinxiang's (35.30, 114.07) reads as latitude 114.
    swapped = -90 <= lon <= 90 and -180 <= lat <= 180
    raise InvalidInput(
        ("经纬度可能写反了：" if swapped else "")
        + f"位置 ({lon}, {lat}) 超出范围。经度（-180 到 180）在前，纬度（-90 到 90）在后，"
        "如 114.07, 35.30",
        ("Longitude and latitude look swapped. " if swapped else "")
        + f"The location ({lon}, {lat}) is out of range: send longitude (-180 to 180) first, "
        "then latitude (-90 to 90), e.g. 114.07, 35.30.",
        field="location",
    )


def _check_in_china(lon: float, lat: float) -> None:
    if _GCJ_LON[0] <= lon <= _GCJ_LON[1] and _GCJ_LAT[0] <= lat <= _GCJ_LAT[1]:
        return
    raise InvalidInput(
        f"位置 ({lon}, {lat}) 在中国境外，GCJ-02 只用于中国境内。请改用 WGS84（EPSG:4326）坐标",
        f"The location ({lon}, {lat}) is outside China, where GCJ-02 does not apply; send "
        "WGS 84 (EPSG:4326) coordinates instead.",
        field="location",
    )


# --- Files from county offices (gis/imports): more datums than a phone declares. ---------------
#
# Baidu's BD-09 is GCJ-02 turned and shifted once more (the published formula below); its exact
# inverse is found by the same fixed-point iteration as GCJ-02's. Surveyed inventories use the
# CGCS2000 3-degree Gauss-Kruger zones: EPSG:4513-4533 are zones 25-45 with the zone number in
# front of the easting (38 500 000 m on zone 38's central meridian), EPSG:4534-4554 the same
# zones by central meridian (75E-135E) without it. Xinxiang lies in zone 38 (114E).
_BD_FACTOR = math.pi * 3000.0 / 180.0
GK3_ZONED = {zone: 4513 + zone - 25 for zone in range(25, 46)}  # zone -> EPSG, zone in easting
GK3_BY_MERIDIAN = {3 * zone: 4534 + zone - 25 for zone in range(25, 46)}  # CM degrees -> EPSG

IMPORT_CRS_HELP_ZH = (
    "WGS84、CGCS2000（EPSG:4490）、GCJ-02（高德、腾讯地图）、BD-09（百度地图）、"
    "CGCS2000 3度带高斯投影（如 CGCS2000-GK3-38 带号在横坐标前，或 CGCS2000-GK3-114E 不带带号），"
    "或任一 EPSG 代码"
)
IMPORT_CRS_HELP_EN = (
    "WGS84, CGCS2000 (EPSG:4490), GCJ-02 (Amap, Tencent), BD-09 (Baidu), a CGCS2000 3-degree "
    "Gauss-Kruger zone (CGCS2000-GK3-38 with the zone number in the easting, CGCS2000-GK3-114E "
    "without), or any EPSG code"
)


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """The BD-09 (lon, lat) that Baidu maps show for a WGS 84 (lon, lat)."""
    return _gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """The WGS 84 (lon, lat) whose BD-09 image is the given (lon, lat), to below 1 mm."""
    _check_range(lon, lat)
    gcj_lon, gcj_lat = lon - 0.0065, lat - 0.006
    for _ in range(_INVERSE_MAX_STEPS):
        bd_lon, bd_lat = _gcj02_to_bd09(gcj_lon, gcj_lat)
        err_lon, err_lat = bd_lon - lon, bd_lat - lat
        if abs(err_lon) < _INVERSE_TOLERANCE and abs(err_lat) < _INVERSE_TOLERANCE:
            break
        gcj_lon -= err_lon
        gcj_lat -= err_lat
    return gcj02_to_wgs84(gcj_lon, gcj_lat)


def _gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _BD_FACTOR)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _BD_FACTOR)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def import_crs(name: str) -> str:
    """The canonical name of a file's CRS: "GCJ-02", "BD-09" or "EPSG:n", from spellings such as
    "wgs84", "gcj02", "百度", "CGCS2000-GK3-38", "gk3 114E" or any EPSG code."""
    key = re.sub(r"[\s_]+", "", name.strip().lower()).replace("3度带", "gk3").replace("°", "")
    if key in ("bd09", "bd-09", "baidu", "百度"):
        return "BD-09"
    if key in ("gcj02", "gcj-02", "gaode", "amap", "高德", "腾讯", "火星"):
        return "GCJ-02"
    if key in ("wgs84", "wgs-84", "gps", "crs84", "4326", "epsg:4326"):
        return "EPSG:4326"
    if key in ("cgcs2000", "cgcs-2000", "国家2000", "2000", "4490", "epsg:4490"):
        return "EPSG:4490"
    gk = re.fullmatch(r"(?:cgcs2000|国家2000)?[-:]?gk3[-:]?(\d{2,3})(e?)(?:带)?", key)
    if gk:
        number = int(gk.group(1))
        if gk.group(2) or number > 45:  # a central meridian, e.g. 114E: no zone in the easting
            if number in GK3_BY_MERIDIAN:
                return f"EPSG:{GK3_BY_MERIDIAN[number]}"
        elif number in GK3_ZONED:
            return f"EPSG:{GK3_ZONED[number]}"
    try:
        epsg = CRS.from_user_input(name.strip()).to_epsg()
    except CRSError:
        epsg = None
    if epsg is None:
        raise InvalidInput(
            f"不认识的坐标系 {name!r}。可用：{IMPORT_CRS_HELP_ZH}",
            f"Unknown CRS {name!r}. Use {IMPORT_CRS_HELP_EN}.",
            field="crs",
        )
    return f"EPSG:{epsg}"


def xy_to_storage(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in ``crs`` (as ``import_crs`` names it; x is the easting or longitude) as
    EPSG:4326 longitude and latitude. NaN stays NaN."""
    if crs in ("GCJ-02", "BD-09"):
        inverse = gcj02_to_wgs84 if crs == "GCJ-02" else bd09_to_wgs84
        lon, lat = np.array(x, dtype=float), np.array(y, dtype=float)
        inside = (
            np.isfinite(lon)
            & np.isfinite(lat)
            & (lon >= _GCJ_LON[0])
            & (lon <= _GCJ_LON[1])
            & (lat >= _GCJ_LAT[0])
            & (lat <= _GCJ_LAT[1])
        )
        for i in np.flatnonzero(inside):  # the exact inverse is scalar; files are county-sized
            lon[i], lat[i] = inverse(lon[i], lat[i])
        lon[~inside], lat[~inside] = np.nan, np.nan
        return lon, lat
    if crs in AS_STORED:  # centimetres apart, as for phones above
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    transformer = Transformer.from_crs(crs, STORAGE_SRID, always_xy=True)
    return transformer.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
