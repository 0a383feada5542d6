"""Managers' reviews of reports. A rejected report stays in the history but stops counting; the
asset's state is then the newest report that still counts (``counting_events``)."""

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import access
from gis.errors import Conflict, Forbidden, InvalidInput, NotFound

DECISIONS = {"confirmed": "确认", "rejected": "驳回"}


@dataclass(frozen=True)
class ReviewOutcome:
    report_id: uuid.UUID
    asset_id: int
    decision: str
    version: int
    state_changed: bool


def review(
    session: Session,
    *,
    principal: access.Principal,
    report_id: uuid.UUID,
    decision: str,
    note: str | None = None,
) -> ReviewOutcome:
    """Record a decision on a report and bring the asset's state in line. Flushes only."""
    if decision not in DECISIONS:
        raise InvalidInput(
            f"审核结论 {decision!r} 无效，可选：confirmed（确认）、rejected（驳回）",
            f"Unknown decision {decision!r}; use confirmed or rejected.",
            field="decision",
        )
    event = session.execute(
        text("SELECT asset_id, reporter_id FROM asset_events WHERE id = :id"), {"id": report_id}
    ).first()
    if event is None:
        raise NotFound(
            f"上报 {report_id} 不存在", f"No report with id {report_id}.", field="report_id"
        )
    asset = session.execute(
        text(
            "SELECT id, county_adcode, stage, percent, stage_observed_at, version "
            "FROM assets WHERE id = :id FOR UPDATE"
        ),
        {"id": event.asset_id},
    ).one()
    access.require_review(principal, asset.county_adcode)
    if event.reporter_id is not None and event.reporter_id == principal.user_id:
        raise Forbidden(
            "不能审核自己的上报，请由本县区的其他管理员审核",
            "You cannot review your own report; another manager of the county must.",
            field="report_id",
        )
    done = session.execute(
        text("SELECT decision FROM report_reviews WHERE event_id = :id"), {"id": report_id}
    ).scalar_one_or_none()
    if done is not None:
        raise Conflict(
            f"该上报已审核（{DECISIONS[done]}），审核结论不能更改",
            f"This report was already reviewed ({done}); a review cannot be changed.",
            field="report_id",
        )
    session.execute(
        text(
            "INSERT INTO report_reviews (event_id, decision, reviewer_id, note) "
            "VALUES (:id, :decision, :reviewer, :note)"
        ),
        {"id": report_id, "decision": decision, "reviewer": principal.user_id, "note": note},
    )
    version, changed = _recompute_state(session, asset)
    return ReviewOutcome(report_id, asset.id, decision, version, changed)


def _recompute_state(session: Session, asset) -> tuple[int, bool]:
    """Set the asset's state to its newest counting report (not started if none counts)."""
    latest = session.execute(
        text(
            "SELECT stage, percent, observed_at FROM counting_events WHERE asset_id = :id "
            "ORDER BY observed_at DESC, received_at DESC LIMIT 1"
        ),
        {"id": asset.id},
    ).first()
    state = (
        (latest.stage, latest.percent, latest.observed_at) if latest else ("not_started", 0, None)
    )
    if state == (asset.stage, asset.percent, asset.stage_observed_at):
        return asset.version, False
    version = session.execute(
        text(
            "UPDATE assets SET stage = :s, percent = :p, stage_observed_at = :o, "
            "version = version + 1, updated_at = now() WHERE id = :id RETURNING version"
        ),
        {"s": state[0], "p": state[1], "o": state[2], "id": asset.id},
    ).scalar_one()
    return version, True
