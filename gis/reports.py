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

from sqlalchemy.orm import Session

from gis import access, crs
from gis.assets import check_stage
from gis.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidStage,
    NotFound,
    PreconditionFailed,
    RebuildError,
)
from gis.evidence import EvidenceRule, rules_for
from gis.queries import report_store as store
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
    county_adcode: str = ""  # the asset's county


@dataclass(frozen=True)
class FieldRules:
    """Settings the decision depends on (from REBUILD_* and data/evidence.toml)."""

    evidence: tuple[EvidenceRule, ...] = ()
    max_distance_m: float = 500.0


@dataclass(frozen=True)
class Submission:
    """One report on one asset: online with ``if_match`` (it must equal the current version),
    or from an offline device with ``base_version`` (the version it last saw)."""

    asset_id: int
    report: ReportIn
    if_match: int | None = None
    base_version: int | None = None


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
    """Decide on one report and record it; raises the reason when it is refused."""
    submission = Submission(asset_id, report, if_match, base_version)
    result = submit_all(
        session, principal=principal, submissions=[submission], rules=rules, now=now
    )[0]
    if isinstance(result, RebuildError):
        raise result
    return result


def submit_all(
    session: Session,
    *,
    principal: access.Principal,
    submissions: list[Submission],
    rules: FieldRules,
    now: dt.datetime | None = None,
) -> list[Outcome | RebuildError]:
    """Decide on many reports and record the accepted ones; one result per submission, in the
    given order: an Outcome, or the error that refused it (nothing of it is written).

    Reports are decided asset by asset in the order they were observed, each on the state the
    ones before it left, so a device's reports on one asset apply in the order they were made.
    Every fact is read, and every write made, once for the whole batch. Flushes, never commits.
    """
    now = now or dt.datetime.now(dt.UTC)
    results: dict[int, Outcome | RebuildError] = {}
    located: dict[int, Location] = {}
    for n, sub in enumerate(submissions):
        try:
            _check_report(sub.report, now=now)
            if sub.report.location is not None:
                located[n] = _convert(sub.report.location)
        except RebuildError as exc:
            results[n] = exc
    assets = store.lock_assets(session, [s.asset_id for s in submissions])
    received = store.received(session, [s.report.id for s in submissions])
    live = [n for n in range(len(submissions)) if n not in results]
    points = {
        n: (submissions[n].asset_id, *_storage_point(located[n]))
        for n in live
        if n in located and submissions[n].asset_id in assets
    }
    distances = store.distances(session, points)
    photos = store.photos(
        session,
        {
            n: (submissions[n].asset_id, list(dict.fromkeys(submissions[n].report.photos)))
            for n in live
            if submissions[n].report.photos and submissions[n].asset_id in assets
        },
    )
    rows: list[dict[str, Any]] = []
    links: list[tuple[uuid.UUID, str]] = []
    order = sorted(live, key=lambda n: (submissions[n].asset_id, submissions[n].report.observed_at))
    for n in order:
        sub = submissions[n]
        try:
            outcome, row = _decide(
                sub,
                assets.get(sub.asset_id),
                principal,
                received,
                located.get(n),
                distances.get(n),
                photos.get(n, []),
                rules,
            )
        except RebuildError as exc:
            results[n] = exc
            continue
        results[n] = outcome
        if row is not None:
            rows.append(row)
            links += [(sub.report.id, p) for p in dict.fromkeys(sub.report.photos)]
            received[sub.report.id] = sub.asset_id  # a copy later in the batch is a duplicate
    written = store.write(
        session,
        rows=rows,
        reporter=principal.user_id,
        links=links,
        states=list(assets.values()),
    )
    if len(written) < len(rows):
        # An id taken between our check and our insert: only a client sending one id for two
        # assets at the same moment can do that (the lock serialises reports on one asset).
        # Nothing of this call is kept; sent again, the id is seen and refused cleanly.
        raise Conflict(
            "同一上报编号正同时用于另一项目的上报，本次未保存，请重试",
            "A report id is being used for another asset at this very moment; nothing was "
            "saved. Send the reports again.",
            field="id",
        )
    return [results[n] for n in range(len(submissions))]


def _decide(
    sub: Submission,
    asset: store.AssetState | None,
    principal: access.Principal,
    received: dict[uuid.UUID, int],
    location: Location | None,
    distance: float | None,
    photos: list[store.PhotoFact],
    rules: FieldRules,
) -> tuple[Outcome, dict[str, Any] | None]:
    """The decision on one report, given the facts; moves ``asset`` along when it applies.
    Returns the outcome and the event row to write (None for a duplicate)."""
    report = sub.report
    if asset is None:
        raise NotFound(
            f"编号为 {sub.asset_id} 的项目不存在，请核对编号或重新查找项目",
            f"No asset with id {sub.asset_id}; check the id or find the asset again.",
            field="asset_id",
        )
    access.require_report(principal, asset.county_adcode)
    if report.id in received:
        if received[report.id] != asset.id:
            raise _id_taken(report.id)
        return Outcome(
            "duplicate", report.id, asset.id, asset.version, (), asset.county_adcode
        ), None
    if sub.if_match is not None and sub.if_match != asset.version:
        raise PreconditionFailed(
            f"项目已被他人更新（您看到的是第 {sub.if_match} 版，现在是第 {asset.version} 版）。"
            "请查看最新进度后重新上报",
            f"The asset changed since you loaded it (you saw version {sub.if_match}, it is now "
            f"{asset.version}). Look at the current state and report again.",
            field="If-Match",
        )
    _check_photos(principal, report, photos)
    flags = _evidence(asset.layer, report, distance, photos, rules)
    current = (asset.stage, asset.percent)
    new = (report.stage, report.percent)
    newer = asset.observed_at is None or report.observed_at >= asset.observed_at
    status: Status
    if newer:
        backwards = is_backwards(current, new)
        if backwards and _reason(report) is None:
            if sub.base_version is not None and sub.base_version != asset.version:
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
    lon, lat = _storage_point(location) if location else (None, None)
    row = {
        "id": report.id,
        "asset": asset.id,
        "stage": report.stage,
        "percent": report.percent,
        "observed": report.observed_at,
        "lon": lon,
        "lat": lat,
        "crs": location.crs if location else None,
        "raw_lon": location.lon if location else None,
        "raw_lat": location.lat if location else None,
        "accuracy": location.accuracy_m if location else None,
        "distance": distance,
        "prev_stage": asset.stage,
        "prev_percent": asset.percent,
        "base_version": sub.base_version or sub.if_match,
        "flags": ",".join(flags),
        "note": report.note,
        "reason": _reason(report),
    }
    if status == "applied":
        asset.stage, asset.percent, asset.observed_at = (
            report.stage,
            report.percent,
            report.observed_at,
        )
        asset.version += 1
        asset.applied += 1
    outcome = Outcome(status, report.id, asset.id, asset.version, tuple(flags), asset.county_adcode)
    return outcome, row


def _id_taken(report_id: uuid.UUID) -> InvalidInput:
    return InvalidInput(
        f"上报编号 {report_id} 已用于另一个项目的上报；请为新的上报生成新编号",
        f"Report id {report_id} was already used for another asset; generate a new id.",
        field="id",
    )


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


def _convert(location: Location) -> Location:
    """The location with its CRS name made canonical (raises on a bad CRS or bad numbers)."""
    name = crs.normalise_crs(location.crs)
    if location.accuracy_m is not None and not 0 <= location.accuracy_m < 1e6:
        raise InvalidInput(
            "定位精度应为非负的米数",
            "accuracy_m must be a non-negative number of metres.",
            field="location.accuracy_m",
        )
    crs.to_storage(location.lon, location.lat, name)  # checks the numbers
    return Location(location.lon, location.lat, name, location.accuracy_m)


def _storage_point(location: Location) -> tuple[float, float]:
    return crs.to_storage(location.lon, location.lat, location.crs)


def _check_photos(
    principal: access.Principal, report: ReportIn, photos: list[store.PhotoFact]
) -> None:
    found = {p.id: p for p in photos}
    missing = [i for i in dict.fromkeys(report.photos) if i not in found]
    if missing:
        raise InvalidInput(
            f"照片 {', '.join(m[:12] for m in missing)}… 尚未上传。"
            "请先上传照片（POST /photos）再提交上报",
            f"Photo(s) {', '.join(missing)} are not uploaded; upload them first (POST /photos).",
            field="photos",
        )
    if principal.role != "admin" and any(p.uploaded_by != principal.user_id for p in photos):
        raise Forbidden(
            "只能使用自己上传的照片", "A report can only carry photos you uploaded.", "photos"
        )


def _evidence(
    layer: str,
    report: ReportIn,
    distance: float | None,
    photos: list[store.PhotoFact],
    rules: FieldRules,
) -> list[str]:
    """Refuse a report lacking required evidence; return the flags of one that is doubtful."""
    flags = []
    if distance is not None and distance > rules.max_distance_m:
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
        if rule.needs_location and distance is None and not exif:
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
