"""Progress reports: one at a time with If-Match, in batches from offline devices, their
history, and managers' reviews."""

import json
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.schemas.reports import (
    ReportCreate,
    ReviewCreate,
    SyncReport,
    SyncRequest,
    SyncResponse,
    SyncResult,
)
from api.security import CurrentPrincipal
from gis import access, reports, reviews
from gis.errors import InvalidInput, PreconditionFailed, PreconditionRequired, RebuildError
from gis.queries import features, history

router = APIRouter(tags=["reports"])

AssetId = Annotated[int, Path(ge=1, le=2**63 - 1, description="项目编号 asset id")]
_ETAG = re.compile(r'^\s*"?([0-9]{1,10})"?\s*$')  # ASCII digits only: \d takes ٣ too


def _if_match(value: str | None) -> int:
    if value is None or not value.strip():
        raise PreconditionRequired(
            "上报须带 If-Match 请求头，值为您看到的项目版本"
            '（GET /assets/{id} 返回的 ETag，如 "3"）',
            "A report needs an If-Match header with the version you saw (the ETag of "
            'GET /assets/{id}, e.g. "3").',
            field="If-Match",
        )
    match = _ETAG.match(value)
    if match is None:
        raise PreconditionRequired(
            f'If-Match 的值 {value!r} 无效：应为项目的 ETag，如 "3"',
            f'If-Match {value!r} is not a version; send the asset\'s ETag, e.g. "3".',
            field="If-Match",
        )
    return int(match.group(1))


def _current(session: Session, asset_id: int, principal: access.Principal) -> dict[str, Any]:
    body, _ = features.asset_feature(session, asset_id, principal=principal)
    return json.loads(body)


@router.post(
    "/assets/{asset_id}/reports",
    status_code=201,
    summary="上报进度 Report progress on an asset (If-Match required)",
    responses={
        200: {"description": "Already received (same report id): nothing changed"},
        409: {"description": "Contradicts a newer observation: stored and held for review"},
        412: {"description": "Stale If-Match: the body carries the current state"},
        428: {"description": "If-Match missing"},
    },
)
def create_report(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    asset_id: AssetId,
    report_in: ReportCreate,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    version = _if_match(if_match)
    report = report_in.to_domain()
    try:
        outcome = reports.submit(
            session,
            principal=principal,
            asset_id=asset_id,
            report=report,
            rules=request.app.state.field_rules,
            if_match=version,
        )
    except PreconditionFailed as exc:
        exc.extra = {"current": _current(session, asset_id, principal)}
        raise
    report_json, asset_json = history.report_and_asset(
        session,
        outcome.report_id,
        asset_id,
        personal=principal.sees_personal(outcome.county_adcode),
    )
    headers = {"ETag": f'"{outcome.version}"', "Location": f"/assets/{asset_id}/history"}
    head = {"status": outcome.status}
    status = 200 if outcome.status == "duplicate" else 201
    if outcome.status == "conflict":
        status = 409
        head = {
            "error": "conflict",
            "message": "该上报与更新的观测结果矛盾（比之后的观测进度更高），"
            "已保存并等待县区管理员审核",
            "message_en": "This report contradicts a newer observation (it claims more progress "
            "than a later one); it is stored and waits for a manager's review.",
            "field": "observed_at",
            **head,
        }
    # The report and the asset arrive from PostGIS as JSON text: spliced in, not re-parsed.
    body = json.dumps(head, ensure_ascii=False)[:-1]
    body += f',"report":{report_json},"asset":{asset_json}'
    if outcome.status == "conflict":
        body += f',"current":{asset_json}'
    return Response(body + "}", status, headers=headers, media_type="application/json")


@router.post(
    "/sync",
    summary="同步离线上报 Send a batch of reports made offline",
    response_model=SyncResponse,
)
def sync(
    request: Request, session: SessionDep, principal: CurrentPrincipal, batch: SyncRequest
) -> SyncResponse:
    limit = request.app.state.settings.sync_max_reports
    if len(batch.reports) > limit:
        raise InvalidInput(
            f"一次最多同步 {limit} 条上报，收到 {len(batch.reports)} 条；请分批发送",
            f"At most {limit} reports per request, got {len(batch.reports)}; send them in parts.",
            field="reports",
        )
    submissions = [
        reports.Submission(item.asset_id, item.to_domain(), base_version=item.base_version)
        for item in batch.reports
    ]
    outcomes = reports.submit_all(
        session,
        principal=principal,
        submissions=submissions,
        rules=request.app.state.field_rules,
    )
    return SyncResponse(
        results=[
            _sync_result(session, principal, item, outcome)
            for item, outcome in zip(batch.reports, outcomes, strict=True)
        ]
    )


def _sync_result(
    session: Session,
    principal: access.Principal,
    item: SyncReport,
    outcome: reports.Outcome | RebuildError,
) -> SyncResult:
    """One line of the answer; a report that did not become the state says what did."""
    if isinstance(outcome, RebuildError):
        return SyncResult(
            id=item.id,
            asset_id=item.asset_id,
            status="rejected",
            error=outcome.code,
            message=outcome.zh,
            message_en=outcome.en,
            field=outcome.field,
        )
    current = None
    if outcome.status in ("conflict", "superseded"):
        current = _current(session, item.asset_id, principal)
    return SyncResult(
        id=item.id,
        asset_id=item.asset_id,
        status=outcome.status,
        version=outcome.version,
        flags=list(outcome.flags),
        current=current,
    )


@router.get("/assets/{asset_id}/history", summary="项目上报历史 An asset's report history")
def asset_history(
    session: SessionDep,
    principal: CurrentPrincipal,
    asset_id: AssetId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    feature = _current(session, asset_id, principal)
    events = history.asset_history(session, asset_id, limit=limit, offset=offset)
    body = {
        "asset_id": asset_id,
        "code": feature["properties"]["code"],
        "version": feature["properties"]["version"],
        "events": events,
    }
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


@router.get("/reports", summary="上报列表（可只看存疑的）Reports, e.g. the flagged ones")
def report_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    flagged: bool = False,
    county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
    review: Annotated[str | None, Query(pattern=r"^(pending|confirmed|rejected)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    rows = history.report_list(
        session,
        principal,
        flagged=flagged,
        county=county,
        review=review,
        limit=limit,
        offset=offset,
    )
    body = json.dumps({"reports": rows, "limit": limit, "offset": offset}, ensure_ascii=False)
    return Response(body, media_type="application/json")


@router.post("/reports/{report_id}/review", summary="审核上报 Confirm or reject a report")
def review_report(
    session: SessionDep,
    principal: CurrentPrincipal,
    report_id: uuid.UUID,
    review_in: ReviewCreate,
) -> Response:
    outcome = reviews.review(
        session,
        principal=principal,
        report_id=report_id,
        decision=review_in.decision,
        note=review_in.note,
    )
    body = {
        "report": history.report(session, report_id),
        "asset": _current(session, outcome.asset_id, principal),
        "state_changed": outcome.state_changed,
    }
    return Response(
        json.dumps(body, ensure_ascii=False, default=str),
        media_type="application/json",
        headers={"ETag": f'"{outcome.version}"'},
    )
