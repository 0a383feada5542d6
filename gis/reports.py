"""Progress reports from the field: checked, recorded once, never lost, never overwriting newer.

An accepted report always joins the asset's history (``asset_events``, append-only). Whether it
also becomes the asset's current state depends on when it was observed:

- observed after the current observation: it becomes the current state (``applied``), unless it
  moves backwards without a reason (refused), or a device that had not seen the latest version
  sends such a move (stored and held as a ``conflict`` for the county's managers);
- observed before the current observation (an offline report arriving late): stored as history
  (``superseded``), or held as a ``conflict`` when it claims more progress than the newer one;
- its id was received before: ``duplicate``, nothing changes.

The asset row is locked for the whole decision, so concurrent reports on one asset are decided
one after another and the version (the ETag) increments by one per applied report.
"""

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import access, crs
from gis.assets import check_stage
from gis.errors import (
    Forbidden,
    InvalidInput,
    InvalidStage,
    NotFound,
    PreconditionFailed,
)
from gis.evidence import EvidenceRule, rules_for
from gis.stages import is_ahead, is_backwards
from gis.vocab import STAGES

# The rains began on 17 July 2021; nothing about the damage can be observed before.
DISASTER_START = dt.datetime(2021, 7, 17, tzinfo=dt.timezone(dt.timedelta(hours=8)))
# Phones' clocks drift: an observation up to this far in the future is taken as "now".
CLOCK_SKEW = dt.timedelta(minutes=10)
MAX_PHOTOS = 10
MAX_NOTE = 2000

Status = Literal["applied", "superseded", "conflict", "duplicate"]


@dataclass(frozen=True)
class Location:
    """Where the reporter stood, in the CRS the device declared (lon, lat order)."""

    lon: float
    lat: float
    crs: str = "EPSG:4326"
    accuracy_m: float | None = None


@dataclass(frozen=True)
class ReportIn:
    id: uuid.UUID
    stage: str
    percent: int
    observed_at: dt.datetime
    note: str | None = None
    reason: str | None = None
    location: Location | None = None
    photos: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    status: Status
    report_id: uuid.UUID
    asset_id: int
    version: int  # the asset's version after the decision
    flags: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class FieldRules:
    """Settings the decision depends on (from REBUILD_* and data/evidence.toml)."""

    evidence: tuple[EvidenceRule, ...] = ()
    max_distance_m: float = 500.0


_LOCK = """
    SELECT id, layer, county_adcode, stage, percent, stage_observed_at, version
      FROM assets WHERE id = :asset_id FOR UPDATE
"""


def _lock_asset(session: Session, asset_id: int) -> Any:
    row = session.execute(text(_LOCK), {"asset_id": asset_id}).first()
    if row is None:
        raise NotFound(
            f"编号为 {asset_id} 的项目不存在，请核对编号或重新查找项目",
            f"No asset with id {asset_id}; check the id or find the asset again.",
            field="asset_id",
        )
    return row


def _received_for(session: Session, report_id: uuid.UUID) -> int | None:
    """The asset a report id was already received for. Asked after the asset's lock is held,
    in a statement of its own: under READ COMMITTED a statement sees what was committed before
    it began, so a copy of this report committed while we waited for the lock is seen here."""
    return session.execute(
        text("SELECT asset_id FROM asset_events WHERE id = :id"), {"id": report_id}
    ).scalar_one_or_none()


def submit(
    session: Session,
    *,
    principal: access.Principal,
    asset_id: int,
    report: ReportIn,
    rules: FieldRules,
    if_match: int | None = None,
    base_version: int | None = None,
    now: dt.datetime | None = None,
) -> Outcome:
    """Decide on one report and record it. ``if_match`` (online) must equal the current version;
    ``base_version`` (offline sync) is the version the device last saw. Flushes, never commits."""
    asset = _lock_asset(session, asset_id)
    access.require_report(principal, asset.county_adcode)
    received_for = _received_for(session, report.id)
    if received_for is not None:
        if received_for != asset_id:
            raise InvalidInput(
                f"上报编号 {report.id} 已用于另一个项目的上报；请为新的上报生成新编号",
                f"Report id {report.id} was already used for another asset; generate a new id.",
                field="id",
            )
        return Outcome("duplicate", report.id, asset_id, asset.version)
    if if_match is not None and if_match != asset.version:
        raise PreconditionFailed(
            f"项目已被他人更新（您看到的是第 {if_match} 版，现在是第 {asset.version} 版）。"
            "请查看最新进度后重新上报",
            f"The asset changed since you loaded it (you saw version {if_match}, it is now "
            f"{asset.version}). Look at the current state and report again.",
            field="If-Match",
        )
    _check_report(report, now=now or dt.datetime.now(dt.UTC))
    located = _locate(session, asset_id, report.location)
    photos = _photos(session, principal, asset_id, report.photos)
    flags = _evidence(asset.layer, report, located, photos, rules)

    current = (asset.stage, asset.percent)
    new = (report.stage, report.percent)
    newer = asset.stage_observed_at is None or report.observed_at >= asset.stage_observed_at
    status: Status
    if newer:
        backwards = is_backwards(current, new)
        if backwards and _reason(report) is None:
            if base_version is not None and base_version != asset.version:
                status, flags = "conflict", [*flags, "conflict"]
            else:
                raise InvalidStage(
                    f"进度不能倒退（现为 {_stage_zh(asset.stage)} {asset.percent}%）。"
                    "如确属再次损毁等情况，请在“原因”中说明后再报",
                    f"Progress cannot go back (now {asset.stage} {asset.percent}%). If it really "
                    "did (damaged again), give the reason and report again.",
                    field="reason",
                )
        else:
            status = "applied"
            if backwards:
                flags = [*flags, "backwards"]
    elif is_ahead(new, current):
        status, flags = "conflict", [*flags, "conflict"]
    else:
        status = "superseded"

    _insert_event(
        session,
        asset,
        report,
        located,
        photos,
        flags,
        base_version or if_match,
        principal.user_id,
    )
    version = asset.version
    if status == "applied":
        version = session.execute(
            text(
                "UPDATE assets SET stage = :stage, percent = :percent, "
                "stage_observed_at = :observed_at, version = version + 1, updated_at = now() "
                "WHERE id = :id RETURNING version"
            ),
            {
                "stage": report.stage,
                "percent": report.percent,
                "observed_at": report.observed_at,
                "id": asset_id,
            },
        ).scalar_one()
    return Outcome(status, report.id, asset_id, version, tuple(flags))


def _reason(report: ReportIn) -> str | None:
    return report.reason.strip() if report.reason and report.reason.strip() else None


def _stage_zh(stage: str) -> str:
    return next(s.zh for s in STAGES if s.key == stage)


def _check_report(report: ReportIn, *, now: dt.datetime) -> None:
    check_stage(report.stage, report.percent)
    observed = report.observed_at
    if observed.tzinfo is None:
        raise InvalidInput(
            "观测时间须带时区，如 2022-05-31T10:00:00+08:00",
            "observed_at needs a time zone, e.g. 2022-05-31T10:00:00+08:00.",
            field="observed_at",
        )
    if observed > now + CLOCK_SKEW:
        raise InvalidInput(
            f"观测时间 {observed.isoformat()} 在将来。请检查手机的日期和时间设置",
            f"observed_at {observed.isoformat()} lies in the future; check the device's clock.",
            field="observed_at",
        )
    if observed < DISASTER_START:
        raise InvalidInput(
            f"观测时间 {observed.isoformat()} 早于灾害发生（2021-07-17），请检查日期",
            f"observed_at {observed.isoformat()} is before the disaster (2021-07-17); check "
            "the date.",
            field="observed_at",
        )
    for name, value in (("note", report.note), ("reason", report.reason)):
        if value is not None and len(value) > MAX_NOTE:
            raise InvalidInput(
                f"{'备注' if name == 'note' else '原因'}过长：最多 {MAX_NOTE} 字",
                f"{name} is too long (max {MAX_NOTE} characters).",
                field=name,
            )
    if len(set(report.photos)) > MAX_PHOTOS:
        raise InvalidInput(
            f"一次上报最多 {MAX_PHOTOS} 张照片",
            f"At most {MAX_PHOTOS} photos per report.",
            field="photos",
        )


@dataclass(frozen=True)
class _Located:
    location: Location  # canonical CRS name
    lon: float  # storage CRS
    lat: float
    distance_m: float


def _locate(session: Session, asset_id: int, location: Location | None) -> _Located | None:
    if location is None:
        return None
    name = crs.normalise_crs(location.crs)
    if location.accuracy_m is not None and not 0 <= location.accuracy_m < 1e6:
        raise InvalidInput(
            "定位精度应为非负的米数",
            "accuracy_m must be a non-negative number of metres.",
            field="location.accuracy_m",
        )
    lon, lat = crs.to_storage(location.lon, location.lat, name)
    distance = session.execute(
        text(
            "SELECT ST_Distance(geom::geography, "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) FROM assets WHERE id = :id"
        ),
        {"lon": lon, "lat": lat, "id": asset_id},
    ).scalar_one()
    declared = Location(location.lon, location.lat, name, location.accuracy_m)
    return _Located(declared, lon, lat, float(distance))


@dataclass(frozen=True)
class _Photo:
    id: str
    distance_m: float | None  # from its EXIF position to the asset


def _photos(
    session: Session, principal: access.Principal, asset_id: int, ids: tuple[str, ...]
) -> list[_Photo]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    rows = session.execute(
        text(
            """
            SELECT p.id, p.uploaded_by,
                   ST_Distance(p.geom::geography, a.geom::geography) AS distance_m
              FROM photos p, assets a
             WHERE p.id = ANY(:ids) AND a.id = :asset_id
            """
        ),
        {"ids": wanted, "asset_id": asset_id},
    ).all()
    found = {r.id: r for r in rows}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidInput(
            f"照片 {', '.join(m[:12] for m in missing)}… 尚未上传。"
            "请先上传照片（POST /photos）再提交上报",
            f"Photo(s) {', '.join(missing)} are not uploaded; upload them first (POST /photos).",
            field="photos",
        )
    foreign = [i for i in wanted if found[i].uploaded_by != principal.user_id]
    if foreign and principal.role != "admin":
        raise Forbidden(
            "只能使用自己上传的照片", "A report can only carry photos you uploaded.", "photos"
        )
    return [_Photo(i, found[i].distance_m) for i in wanted]


def _evidence(
    layer: str,
    report: ReportIn,
    located: _Located | None,
    photos: list[_Photo],
    rules: FieldRules,
) -> list[str]:
    """Refuse a report lacking required evidence; return the flags of one that is doubtful."""
    flags = []
    if located is not None and located.distance_m > rules.max_distance_m:
        flags.append("far_away")
    for rule in rules_for(rules.evidence, layer, report.stage):
        if len(photos) < rule.min_photos:
            raise InvalidInput(
                f"“{_stage_zh(report.stage)}”须附至少 {rule.min_photos} 张现场照片"
                f"（{rule.label_zh}）。请拍照后再提交",
                f"Reporting {report.stage} needs at least {rule.min_photos} site photo(s) "
                f"({rule.label_en}). Take a photo and submit again.",
                field="photos",
            )
        exif = [p for p in photos if p.distance_m is not None]
        if rule.needs_location and located is None and not exif:
            raise InvalidInput(
                f"“{_stage_zh(report.stage)}”须带位置：请打开手机定位，或上传带位置信息的照片"
                f"（{rule.label_zh}）",
                f"Reporting {report.stage} needs a position: turn on the device's location, or "
                f"attach a photo with GPS data ({rule.label_en}).",
                field="location",
            )
        if rule.photo_within_m is not None and any(
            p.distance_m > rule.photo_within_m for p in exif
        ):
            flags.append("exif_mismatch")
    return list(dict.fromkeys(flags))


def _insert_event(
    session: Session,
    asset: Any,
    report: ReportIn,
    located: _Located | None,
    photos: list[_Photo],
    flags: list[str],
    base_version: int | None,
    reporter_id: int | None,
) -> None:
    where = located.location if located else None
    inserted = session.execute(
        text(
            """
            INSERT INTO asset_events (
                id, asset_id, stage, percent, observed_at, reporter_id, reporter_geom,
                reporter_crs, reporter_lon, reporter_lat, reporter_accuracy_m, distance_m,
                prev_stage, prev_percent, base_version, flags, note, reason)
            VALUES (
                :id, :asset_id, :stage, :percent, :observed_at, :reporter_id,
                CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                     ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,
                :crs, :raw_lon, :raw_lat, :accuracy, :distance,
                :prev_stage, :prev_percent, :base_version, :flags, :note, :reason)
            ON CONFLICT (id) DO NOTHING RETURNING id
            """
        ),
        {
            "id": report.id,
            "asset_id": asset.id,
            "stage": report.stage,
            "percent": report.percent,
            "observed_at": report.observed_at,
            "reporter_id": reporter_id,
            "lon": located.lon if located else None,
            "lat": located.lat if located else None,
            "crs": where.crs if where else None,
            "raw_lon": where.lon if where else None,
            "raw_lat": where.lat if where else None,
            "accuracy": where.accuracy_m if where else None,
            "distance": located.distance_m if located else None,
            "prev_stage": asset.stage,
            "prev_percent": asset.percent,
            "base_version": base_version,
            "flags": flags,
            "note": report.note,
            "reason": _reason(report),
        },
    ).first()
    if inserted is None:  # the same id, sent at the same moment for another asset
        raise InvalidInput(
            f"上报编号 {report.id} 已被使用；请为新的上报生成新编号",
            f"Report id {report.id} is already taken; generate a new id.",
            field="id",
        )
    if photos:
        session.execute(
            text("INSERT INTO event_photos (event_id, photo_id) VALUES (:e, :p)"),
            [{"e": report.id, "p": p.id} for p in photos],
        )
