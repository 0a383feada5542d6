"""Importing an inventory (GeoPackage, Shapefile, GeoJSON, CSV) of one layer: all rows or none.

Every row is checked with the same rules as a single asset (gis/assets.py). If any row fails,
nothing is stored and the error lists each bad row with its number and what to fix.
"""

import warnings
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from gis.assets import AssetNew, insert_asset, validate
from gis.crs import STORAGE_SRID
from gis.errors import InvalidInput, RebuildError
from gis.vocab import LAYERS

# Column headers a county clerk is likely to use, mapped to the asset's fields.
ALIASES = {
    "代码": "code", "编码": "code", "项目代码": "code",
    "类别": "kind", "类型": "kind",
    "县区代码": "county_adcode", "行政区划代码": "county_adcode", "county": "county_adcode",
    "名称": "name", "项目名称": "name",
    "乡镇": "town", "村": "village", "行政村": "village",
    "批次": "batch", "安置户数": "households",
    "计划投资": "planned_investment_wan", "计划投资（万元）": "planned_investment_wan",
    "到位资金": "funds_secured_wan", "到位资金（万元）": "funds_secured_wan",
    "已脱贫地区": "poverty_alleviated_area", "受灾严重地区": "worst_hit_area",
    "户主": "householder_name", "户主姓名": "householder_name", "联系电话": "householder_phone",
}  # fmt: skip
FIELDS = {f.name for f in fields(AssetNew)} - {"layer", "geometry"}
REQUIRED = ("code", "kind", "county_adcode", "name")
MAX_LISTED = 50


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based, as a spreadsheet shows it after the header
    field: str | None
    zh: str
    en: str


class ImportRejected(InvalidInput):
    """Some rows are bad; nothing was stored."""

    code = "import_rejected"

    def __init__(self, problems: list[RowProblem], total: int) -> None:
        listed = problems[:MAX_LISTED]
        more = len(problems) - len(listed)
        tail_zh = f"\n……另有 {more} 处问题" if more else ""
        tail_en = f"\n... and {more} more" if more else ""
        super().__init__(
            f"{total} 行中有 {len(problems)} 处问题，未导入任何数据。请修改后重新导入：\n"
            + "\n".join(f"第 {p.row} 行 {p.field or ''}：{p.zh}" for p in listed)
            + tail_zh,
            f"{len(problems)} problems in {total} rows; nothing was imported. Fix them and "
            "import again:\n"
            + "\n".join(f"row {p.row} {p.field or ''}: {p.en}" for p in listed)
            + tail_en,
        )
        self.problems = problems


def read_inventory(path: Path) -> gpd.GeoDataFrame:
    """Read a vector file or a CSV (``lon``/``lat`` or ``wkt`` columns) as EPSG:4326."""
    if not path.exists():
        raise InvalidInput(f"文件不存在：{path}", f"No such file: {path}", field="path")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if {"lon", "lat"} <= set(frame.columns):
            lon = pd.to_numeric(frame.pop("lon"), errors="coerce")
            lat = pd.to_numeric(frame.pop("lat"), errors="coerce")
            geometry = gpd.points_from_xy(lon, lat)
        elif "wkt" in frame.columns:
            geometry = gpd.GeoSeries.from_wkt(frame.pop("wkt").replace("", None))
        else:
            raise InvalidInput(
                "CSV 需要 lon、lat 两列（经纬度）或 wkt 一列（几何）",
                "A CSV needs lon and lat columns, or a wkt column.",
                field="path",
            )
        return gpd.GeoDataFrame(frame, geometry=geometry, crs=STORAGE_SRID)
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types; all mean "cannot read this file"
        raise InvalidInput(
            f"无法读取文件 {path.name}：{exc}。支持 GeoPackage、Shapefile、GeoJSON、CSV",
            f"Cannot read {path.name}: {exc}. Use GeoPackage, Shapefile, GeoJSON or CSV.",
            field="path",
        ) from exc
    if frame.crs is None:
        warnings.warn(f"{path.name} states no CRS; assuming EPSG:4326 lon/lat", stacklevel=2)
        return frame.set_crs(STORAGE_SRID)
    return frame.to_crs(STORAGE_SRID)


def _value(field: str, raw: Any) -> Any:
    if raw is None or (isinstance(raw, float) and pd.isna(raw)) or raw == "":
        return None
    if field in ("batch", "households"):
        return int(float(raw))
    if field in ("planned_investment_wan", "funds_secured_wan"):
        return Decimal(str(raw))
    if field in ("poverty_alleviated_area", "worst_hit_area"):
        return str(raw).strip().lower() in ("1", "true", "yes", "是", "y")
    if field == "percent":
        return int(float(raw))
    return str(raw).strip()


def _to_asset(layer: str, record: dict[str, Any], geom: Any) -> AssetNew:
    values = {f: _value(f, record.get(f)) for f in FIELDS if f in record}
    values.setdefault("stage", "not_started")
    values["stage"] = values["stage"] or "not_started"
    values["percent"] = values.get("percent") or 0
    for flag in ("poverty_alleviated_area", "worst_hit_area"):
        values[flag] = bool(values.get(flag))
    geometry = None if geom is None or shapely.is_missing(geom) else geom
    return AssetNew(layer=layer, geometry=geometry, **values)


def import_inventory(session: Session, *, path: Path, layer: str) -> int:
    """Validate every row of ``path`` as an asset of ``layer``; store all or none."""
    if layer not in LAYERS:
        raise InvalidInput(
            f"图层 {layer!r} 不存在，可选：{'、'.join(LAYERS)}",
            f"Unknown layer {layer!r}; use one of {', '.join(LAYERS)}.",
            field="layer",
        )
    frame = read_inventory(path).rename(columns=ALIASES)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"缺少必填列：{'、'.join(missing)}（列名可用 code/代码、kind/类别、"
            "county_adcode/县区代码、name/名称）",
            f"Missing required columns: {', '.join(missing)}.",
            field="columns",
        )
    problems: list[RowProblem] = []
    assets: list[AssetNew] = []
    seen: dict[str, int] = {}
    records = frame.drop(columns=frame.geometry.name).to_dict("records")
    for number, (record, geom) in enumerate(zip(records, frame.geometry, strict=True), start=1):
        try:
            asset = _to_asset(layer, record, geom)
            validate(session, asset)
        except (ValueError, InvalidOperation) as exc:
            problems.append(
                RowProblem(number, None, f"数值格式不对（{exc}）", f"bad number: {exc}")
            )
            continue
        except RebuildError as exc:
            problems.append(RowProblem(number, exc.field, exc.zh, exc.en))
            continue
        if asset.code in seen:
            problems.append(
                RowProblem(
                    number,
                    "code",
                    f"代码 {asset.code} 与第 {seen[asset.code]} 行重复",
                    f"code {asset.code} repeats row {seen[asset.code]}",
                )
            )
            continue
        seen[asset.code] = number
        assets.append(asset)
    if problems:
        raise ImportRejected(problems, len(records))
    for asset in assets:
        insert_asset(session, asset_in=asset)
    return len(assets)
