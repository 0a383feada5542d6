"""Deadline rules: read by everyone logged in, changed by administrators, every change kept."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep
from api.security import CurrentPrincipal
from gis import deadlines

router = APIRouter(prefix="/deadlines", tags=["deadlines"])

RuleName = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,60}$", description="rule name")]


class DeadlineUpdate(BaseModel):
    """The parts of a rule that may change; the others stay."""

    model_config = ConfigDict(extra="forbid")

    stage: str | None = Field(default=None, max_length=40)
    due: str | None = Field(
        default=None, max_length=60, description="a date (YYYY-MM-DD) or a milestone's name"
    )
    label_zh: str | None = Field(default=None, min_length=1, max_length=200)
    label_en: str | None = Field(default=None, min_length=1, max_length=200)
    source: str | None = Field(default=None, max_length=500)


@router.get("", summary="时间节点 Deadline rules and milestones")
def list_rules(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return deadlines.rules(session)


@router.get("/changes", summary="时间节点的修改记录 Changes to the rules, newest first")
def list_changes(
    session: SessionDep,
    principal: CurrentPrincipal,
    rule: Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,60}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return {"changes": deadlines.changes(session, rule=rule, limit=limit)}


@router.put("/{rule}", summary="修改时间节点（管理员）Change a rule (administrators)")
def update_rule(
    session: SessionDep, principal: CurrentPrincipal, rule: RuleName, update: DeadlineUpdate
) -> dict[str, Any]:
    values = update.model_dump(exclude_none=True)
    return deadlines.update_rule(session, principal=principal, rule=rule, values=values)
