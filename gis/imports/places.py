"""Which county each row lies in: the county derived where the file names none, a row outside
its county refused with where it does lie, and the hint that a GCJ-02 reading would put it in."""

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import crs as crs_
from gis.imports.problems import Problems


class Counties:
    def __init__(self, session: Session) -> None:
        rows = session.execute(
            text("SELECT adcode, name_zh, name_en, ST_AsBinary(geom) FROM counties ORDER BY 1")
        ).all()
        self.names = [(r[0], r[1], r[2]) for r in rows]
        self.adcodes = np.array([r[0] for r in rows], dtype=object)
        self.zh = {r[0]: r[1] for r in rows}
        self.polygons = shapely.from_wkb([bytes(r[3]) for r in rows])
        shapely.prepare(self.polygons)
        self.tree = shapely.STRtree(self.polygons)

    def containing(self, geoms: np.ndarray) -> np.ndarray:
        """The adcode of the county covering each geometry ('' for none)."""
        out = np.full(len(geoms), "", dtype=object)
        present = np.flatnonzero(~shapely.is_missing(geoms))
        if len(present):
            rows, polys = self.tree.query(geoms[present], predicate="covered_by")
            out[present[rows]] = self.adcodes[polys]
        return out


def derive_and_check(
    counties: Counties,
    geometry: np.ndarray,
    county: np.ndarray,
    row_crs: np.ndarray,
    problems: Problems,
    county_header: str | None,
) -> tuple[np.ndarray, int]:
    """Fill in the county from the location where it is empty; refuse rows outside the county
    they name. Returns the counties and how many were derived."""
    county = county.copy()
    located = ~shapely.is_missing(geometry) & ~problems.bad
    fill = located & (county == "")
    if fill.any():
        county[fill] = counties.containing(geometry[fill])
    derived = int((fill & (county != "")).sum())
    inside = np.zeros(len(geometry), dtype=bool)
    check = located & (county != "") & (county != "?")
    checked = np.flatnonzero(check)
    codes, adcodes = pd.factorize(county[checked])
    for code, adcode in enumerate(adcodes):
        rows = checked[codes == code]
        polygon = counties.polygons[np.flatnonzero(counties.adcodes == adcode)[0]]
        inside[rows] = shapely.covers(polygon, geometry[rows])
    outside = located & ~inside & (county != "?")
    for i in np.flatnonzero(outside):
        _refuse(counties, int(i), geometry[i], county[i], row_crs[i], problems, county_header)
    return county, derived


def _refuse(counties, i, geom, adcode, row_crs, problems, header) -> None:
    x, y = shapely.get_coordinates(shapely.centroid(geom))[0]
    hint_zh = hint_en = ""
    if row_crs in ("EPSG:4326", "EPSG:4490") and shapely.get_type_id(geom) == 0:
        try:
            alt = shapely.points(*crs_.gcj02_to_wgs84(x, y))
        except Exception:  # outside China: no GCJ-02 reading
            alt = None
        where = counties.containing(np.array([alt]))[0] if alt is not None else ""
        if where and (adcode in ("", where)):
            hint_zh = (
                f"。按 GCJ-02（高德、腾讯地图坐标）读取则位于{counties.zh[where]}内："
                "若坐标取自手机地图，请加 --crs GCJ-02（百度地图为 BD-09）"
            )
            hint_en = (
                f". Read as GCJ-02 (Amap/Tencent coordinates) it would lie in "
                f"{counties.zh[where]} ({where}): if the coordinates come from a phone "
                "map app, import with --crs GCJ-02 (Baidu: BD-09)"
            )
    if not adcode:
        problems.at(
            i,
            field="geometry",
            zh=f"位置 ({x:.5f}, {y:.5f}) 不在新乡市任何县区内{hint_zh or '。请核对坐标和坐标系'}",
            en=f"The location ({x:.5f}, {y:.5f}) is outside Xinxiang"
            f"{hint_en or '; check the coordinates and the CRS'}.",
        )
        return
    actual = counties.containing(np.array([geom]))[0]
    where_zh = f"位于{counties.zh[actual]}（{actual}）" if actual else "不在新乡市范围内"
    where_en = f"lies in {actual}" if actual else "is outside Xinxiang"
    problems.at(
        i,
        field="county_adcode",
        column=header,
        value=adcode,
        zh=f"位置 ({x:.5f}, {y:.5f}) {where_zh}，不在所填县区 {counties.zh[adcode]}（{adcode}）内"
        f"{hint_zh or '。请改正县区或坐标'}",
        en=f"The location ({x:.5f}, {y:.5f}) {where_en}, not in the stated county "
        f"{adcode}{hint_en or '; correct the county or the coordinates'}.",
    )
