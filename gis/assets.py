"""Creating assets: every rule checked up front with a message a clerk can act on.

The database holds the same invariants (checks, foreign keys, the inside-county trigger); the
checks here exist to say *what* is wrong and *how* to fix it before anything is written, and
``_translate`` turns a database refusal (a race, say) into the same kind of message.
"""

import re
import uuid
from dataclasses import asdict, dataclass
from decimal import Decimal

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis.crs import STORAGE_SRID
from gis.errors import (
    DuplicateCode,
    InvalidGeometry,
    InvalidInput,
    InvalidStage,
    OutsideArea,
    RebuildError,
)
from gis.queries.features import check_county
from gis.vocab import (
    KINDS,
    LAYERS,
    ROAD_BATCHES,
    STAGE_FULL_PERCENT,
    STAGE_ORDER,
    STAGE_ZERO_PERCENT,
)

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$")


@dataclass(frozen=True)
class AssetNew:
    """An asset to create. ``geometry`` is in EPSG:4326, axis order (longitude, latitude)."""

    code: str
    layer: str
    kind: str
    county_adcode: str
    name: str
    geometry: BaseGeometry | None
    batch: int | None = None
    town: str | None = None
    village: str | None = None
    households: int | None = None
    planned_investment_wan: Decimal | None = None
    funds_secured_wan: Decimal | None = None
    poverty_alleviated_area: bool = False
    worst_hit_area: bool = False
    householder_name: str | None = None
    householder_phone: str | None = None
    stage: str = "not_started"
    percent: int = 0


def _check_vocabulary(asset: AssetNew) -> None:
    if asset.layer not in LAYERS:
        raise InvalidInput(
            f"图层 {asset.layer!r} 不存在，可选：{'、'.join(LAYERS)}",
            f"Unknown layer {asset.layer!r}; use one of {', '.join(LAYERS)}.",
            field="layer",
        )
    kinds = {k.key: k for k in KINDS[asset.layer]}
    if asset.kind not in kinds:
        zh = "、".join(f"{k.key}（{k.zh}）" for k in kinds.values())
        raise InvalidInput(
            f"类别 {asset.kind!r} 不属于图层 {LAYERS[asset.layer].zh}，可选：{zh}",
            f"Kind {asset.kind!r} is not a kind of {asset.layer}; use one of {', '.join(kinds)}.",
            field="kind",
        )
    if asset.layer == "roads" and asset.batch not in ROAD_BATCHES:
        raise InvalidInput(
            "农村公路必须注明批次：1（第一批）或 2（第二批）",
            "A road needs its batch: 1 (first batch) or 2 (second batch).",
            field="batch",
        )
    if asset.layer != "roads" and asset.batch is not None:
        raise InvalidInput(
            "只有农村公路有批次，请清空“批次”", "Only roads have a batch; leave it empty.", "batch"
        )
    if asset.households is not None and asset.kind != "resettlement_site":
        raise InvalidInput(
            "只有安置区填写安置户数",
            "Only resettlement sites have a household count.",
            "households",
        )
    if not asset.name or not asset.name.strip():
        raise InvalidInput("请填写项目名称", "The asset needs a name.", field="name")
    if not CODE_PATTERN.match(asset.code or ""):
        raise InvalidInput(
            f"项目代码 {asset.code!r} 格式不对：3–40 位字母、数字、“-”“_”“.”，以字母或数字开头，"
            "如 FW-410781-00012",
            f"Code {asset.code!r} must be 3-40 letters, digits, '-', '_' or '.', starting with a "
            "letter or digit, e.g. FW-410781-00012.",
            field="code",
        )


def check_stage(stage: str, percent: int) -> None:
    """Raise InvalidStage unless ``stage`` is known and ``percent`` fits it."""
    if stage not in STAGE_ORDER:
        raise InvalidStage(
            f"进度阶段 {stage!r} 不存在，可选：{'、'.join(STAGE_ORDER)}"
            "（未开工、前期完成、已开工、已完工、已验收）",
            f"Unknown stage {stage!r}; use one of {', '.join(STAGE_ORDER)}.",
            field="stage",
        )
    if not 0 <= percent <= 100:
        raise InvalidStage(
            f"完成百分比 {percent} 应在 0 到 100 之间",
            f"Percent {percent} must be 0-100.",
            "percent",
        )
    if stage in STAGE_ZERO_PERCENT and percent != 0:
        raise InvalidStage(
            f"阶段 {stage} 尚未施工，完成百分比应为 0", f"Stage {stage} means percent 0.", "percent"
        )
    if stage in STAGE_FULL_PERCENT and percent != 100:
        raise InvalidStage(
            f"阶段 {stage} 已完工，完成百分比应为 100",
            f"Stage {stage} means percent 100.",
            "percent",
        )


def check_geometry(geom: BaseGeometry | None, layer: str) -> None:
    """Raise InvalidGeometry unless ``geom`` is a valid lon/lat geometry that ``layer`` takes."""
    if geom is None or geom.is_empty:
        raise InvalidGeometry(
            "缺少位置或几何为空，请在地图上标出位置",
            "The geometry is missing or empty.",
            "geometry",
        )
    allowed = LAYERS[layer].geometry_types
    if geom.geom_type not in allowed:
        raise InvalidGeometry(
            f"图层 {LAYERS[layer].zh} 的几何类型应为 {'、'.join(allowed)}，收到 {geom.geom_type}",
            f"A {layer} geometry must be one of {', '.join(allowed)}; got {geom.geom_type}.",
            field="geometry",
        )
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        # Latitude first is the commonest slip: Xinxiang's (35, 114) reads as latitude 114.
        swapped = 34 < minx <= maxx < 37 and 112 < miny <= maxy < 116
        raise InvalidGeometry(
            ("经纬度可能写反了：" if swapped else "")
            + "坐标应为 WGS84 经纬度（经度在前），如 114.07, 35.30；请勿使用投影坐标（米）",
            ("Longitude and latitude look swapped. " if swapped else "")
            + "Coordinates must be WGS84 longitude, latitude (EPSG:4326), e.g. 114.07, 35.30 - "
            "not projected metres.",
            field="geometry",
        )
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise InvalidGeometry(
            f"几何无效：{reason}。请修正自相交或重复点后重试",
            f"Invalid geometry: {reason}. Fix self-intersections or repeated points and retry.",
            field="geometry",
        )


def check_inside_county(session: Session, geom: BaseGeometry, adcode: str) -> None:
    """Raise OutsideArea unless ``geom`` (EPSG:4326) lies inside county ``adcode``."""
    rows = session.execute(
        text(
            """
            SELECT adcode, name_zh, name_en, ST_Covers(geom, g) AS covers
              FROM counties, ST_SetSRID(ST_GeomFromWKB(:wkb), :srid) AS g
             WHERE ST_Intersects(geom, g)
            """
        ),
        {"wkb": shapely.to_wkb(geom), "srid": STORAGE_SRID},
    ).all()
    if any(r.adcode == adcode and r.covers for r in rows):
        return
    x, y = geom.representative_point().coords[0]
    if not rows:
        raise OutsideArea(
            f"位置 ({x:.5f}, {y:.5f}) 不在新乡市范围内。请核对坐标（经度在前）后重试",
            f"The location ({x:.5f}, {y:.5f}) is outside Xinxiang. Check the coordinates "
            "(longitude first) and retry.",
            field="geometry",
        )
    names = "、".join(f"{r.name_zh}（{r.adcode}）" for r in rows)
    names_en = ", ".join(f"{r.name_en} ({r.adcode})" for r in rows)
    raise OutsideArea(
        f"位置位于 {names}，不在所填县区 {adcode} 内。请改正县区或位置",
        f"The geometry lies in {names_en}, not inside the stated county {adcode}. Correct the "
        "county or the location.",
        field="county_adcode",
    )


def _check_code_free(session: Session, code: str) -> None:
    taken = session.execute(
        text("SELECT id, name FROM assets WHERE code = :code"), {"code": code}
    ).first()
    if taken:
        raise DuplicateCode(
            f"项目代码 {code} 已被“{taken.name}”（编号 {taken.id}）使用，请换一个代码",
            f"Code {code} is already used by asset {taken.id} ({taken.name}); choose another.",
            field="code",
        )


def validate(session: Session, asset: AssetNew) -> None:
    """Every rule an asset must meet, cheapest first; raises the first one broken."""
    _check_vocabulary(asset)
    check_stage(asset.stage, asset.percent)
    check_geometry(asset.geometry, asset.layer)
    check_county(session, asset.county_adcode)
    check_inside_county(session, asset.geometry, asset.county_adcode)
    _check_code_free(session, asset.code)


def create_asset(session: Session, *, asset_in: AssetNew) -> int:
    """Validate and insert one asset; returns its id. Flushes, never commits."""
    validate(session, asset_in)
    return insert_asset(session, asset_in=asset_in)


def insert_asset(session: Session, *, asset_in: AssetNew) -> int:
    """Insert an asset that has passed ``validate``; the database re-checks its invariants."""
    values = {k: v for k, v in asdict(asset_in).items() if k != "geometry"}
    values["wkb"] = shapely.to_wkb(asset_in.geometry)
    values["srid"] = STORAGE_SRID
    columns = [k for k in values if k not in ("wkb", "srid")]
    try:
        with session.begin_nested():
            asset_id = session.execute(
                text(
                    f"INSERT INTO assets ({', '.join(columns)}, geom) "
                    f"VALUES ({', '.join(':' + c for c in columns)}, "
                    "ST_SetSRID(ST_GeomFromWKB(:wkb), :srid)) RETURNING id"
                ),
                values,
            ).scalar_one()
            if asset_in.stage != "not_started":
                _record_initial_state(session, asset_id, asset_in)
            return asset_id
    except IntegrityError as exc:
        raise _translate(exc, asset_in) from exc


def _record_initial_state(session: Session, asset_id: int, asset: AssetNew) -> None:
    """An asset created in a stage other than 未开工 gets that stage as its first event, so that
    its history explains its state and a rejected later report has something to fall back to."""
    session.execute(
        text(
            "INSERT INTO asset_events (id, asset_id, stage, percent, observed_at, note) "
            "VALUES (:id, :asset_id, :stage, :percent, now(), :note)"
        ),
        {
            "id": uuid.uuid4(),
            "asset_id": asset_id,
            "stage": asset.stage,
            "percent": asset.percent,
            "note": "录入时的状态 state when the asset was recorded",
        },
    )
    session.execute(
        text("UPDATE assets SET stage_observed_at = now() WHERE id = :id"), {"id": asset_id}
    )


def _translate(exc: IntegrityError, asset: AssetNew) -> RebuildError:
    """A database refusal (e.g. a concurrent insert of the same code) as a domain error."""
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
    if constraint == "assets_code_key":
        return DuplicateCode(
            f"项目代码 {asset.code} 已被使用，请换一个代码",
            f"Code {asset.code} is already used; choose another.",
            field="code",
        )
    if constraint == "assets_inside_county":
        return OutsideArea(
            f"位置不在所填县区 {asset.county_adcode} 内",
            "The geometry is outside its county.",
            field="geometry",
        )
    return InvalidInput(
        f"数据不符合规则（{constraint or '约束'}），未保存。请检查后重试",
        f"The database refused the asset ({constraint or exc.orig}); nothing was saved.",
    )
