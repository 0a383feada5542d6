"""Progress columns of an updated inventory as field reports: decided by the same rules
(gis/reports.py: newer wins, going back needs a reason, conflicts held for the managers),
observed at the time the import states, reported by the importing user.

The evidence rules (photos, a position) are not asked of an office inventory: it carries
neither, and every report it makes says where it came from.
"""

import datetime as dt
import uuid

import numpy as np
from sqlalchemy.orm import Session

from gis import access, reports
from gis.errors import RebuildError
from gis.imports.problems import Problems


def apply_progress(
    session: Session,
    matched: list[tuple],
    values: dict[str, np.ndarray],
    *,
    observed: dt.datetime,
    principal: access.Principal,
    problems: Problems,
    source: str,
) -> dict[str, int]:
    """Submit a report for each matched row whose stage or percent differs from its asset's;
    refused ones become problems. Returns how many reports had each outcome."""
    submissions, numbers = [], []
    for n, asset_id, _, _, stage, percent, _ in matched:
        new_stage, new_percent = values["stage"][n], values["percent"][n]
        if not new_stage or (new_stage, int(new_percent or 0)) == (stage, percent):
            continue
        report = reports.ReportIn(
            id=uuid.uuid4(),
            stage=new_stage,
            percent=int(new_percent or 0),
            observed_at=observed,
            note=f"台账导入 inventory import: {source}",
            reason=values["reason"][n] or None,
        )
        submissions.append(reports.Submission(asset_id, report))
        numbers.append(n)
    if not submissions:
        return {}
    results = reports.submit_all(
        session, principal=principal, submissions=submissions, rules=reports.FieldRules()
    )
    counts: dict[str, int] = {}
    for n, result in zip(numbers, results, strict=True):
        if isinstance(result, RebuildError):
            problems.at(
                n,
                field=result.field or "stage",
                zh=result.zh,
                en=result.en,
                value=values["stage"][n],
            )
            counts["refused"] = counts.get("refused", 0) + 1
        else:
            counts[result.status] = counts.get(result.status, 0) + 1
    return counts
