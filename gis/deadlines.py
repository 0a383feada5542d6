"""Changing deadline rules from the API, each change kept with who and when.

The rules stay data (``deadlines``; ``data/deadlines.toml`` through ``rebuild deadlines load``);
an administrator may change a rule's stage, due date (a date or a milestone) and labels. The
same checks as the file loader apply, and every change lands in ``deadline_changes``.
"""

import contextlib
import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import access, loaders
from gis.errors import NotFound

EDITABLE = ("stage", "due", "label_zh", "label_en", "source")

_RULE = text(
    "SELECT rule, layer, kind, batch, stage, coalesce(due_milestone, due_date::text) AS due, "
    "label_zh, label_en, source FROM deadlines WHERE rule = :rule"
)
_UPDATE = text(
    """
    UPDATE deadlines SET stage = :stage, due_date = :due_date, due_milestone = :due_milestone,
           label_zh = :label_zh, label_en = :label_en, source = :source
     WHERE rule = :rule
    """
)
_CHANGES = text(
    """
    SELECT d.id, d.changed_at, u.username AS changed_by, d.changed_via, d.rule, d.before,
           d.after
      FROM deadline_changes d LEFT JOIN users u ON u.id = d.changed_by
     WHERE CAST(:rule AS text) IS NULL OR d.rule = :rule
     ORDER BY d.id DESC
     LIMIT :limit
    """
)


def rules(session: Session) -> dict[str, Any]:
    """The milestones and the rules with their effective due dates."""
    milestones = session.execute(
        text("SELECT name, date, label_zh, label_en FROM milestones ORDER BY date")
    ).all()
    return {
        "milestones": [dict(m._mapping) for m in milestones],
        "rules": [
            {"rule": name, **snapshot}
            for name, snapshot in sorted(
                loaders.rule_snapshots(session).items(), key=lambda kv: (kv[1]["due_on"], kv[0])
            )
        ],
    }


def update_rule(
    session: Session, *, principal: access.Principal, rule: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Change a rule (administrators only) and keep the change; returns the rule as it stands."""
    access.require_role(principal, "admin")
    row = session.execute(_RULE, {"rule": rule}).first()
    if row is None:
        raise NotFound(
            f"时间节点 {rule} 不存在（GET /deadlines 列出全部）",
            f"No deadline rule {rule!r} (GET /deadlines lists them).",
            field="rule",
        )
    merged = {**row._mapping, **{k: v for k, v in values.items() if k in EDITABLE}}
    due = merged["due"]
    if isinstance(due, str):
        with contextlib.suppress(ValueError):  # not a date: a milestone's name
            merged["due"] = dt.date.fromisoformat(due)
    milestones = set(session.execute(text("SELECT name FROM milestones")).scalars())
    checked = loaders.check_rule(rule, merged, milestones, f"时间节点 {rule}")
    before = loaders.rule_snapshots(session)
    session.execute(_UPDATE, checked)
    loaders.record_changes(
        session, before, loaders.rule_snapshots(session), by=principal.user_id, via="api"
    )
    return {"rule": rule, **loaders.rule_snapshots(session)[rule]}


def changes(session: Session, *, rule: str | None = None, limit: int = 100) -> list[dict]:
    """The changes to the rules, newest first."""
    return [dict(r._mapping) for r in session.execute(_CHANGES, {"rule": rule, "limit": limit})]
