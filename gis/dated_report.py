"""Reproducible dated reports: the workbook and the CSV for day D, with a manifest holding
their content hashes and the numbers, so that a report sent up can be checked later.

Reports observed after D never count for D, so running the report again for the same D gives
the same ``numbers_sha256`` — unless D's history itself changed in between: a report observed
by D arrived late (a phone that was offline), a review made a report count or stop counting, or
a deadline rule changed. The manifest's ``history`` records what the numbers rest on (how many
such reports and reviews, received and made until when, and the last rule change), so that two
manifests of the same D with different numbers show why. The files' own hashes differ anyway by
the time of generation printed in them.
"""

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import exports
from gis import progress as engine
from gis.access import Principal

# What the numbers for D rest on: the counting reports observed by the end of D, the reviews of
# reports observed by then, and the deadline rules (their last change).
_HISTORY = text(
    """
    SELECT (SELECT count(*) FROM counting_events WHERE observed_at < :cutoff)
               AS counting_reports,
           (SELECT max(received_at) FROM asset_events WHERE observed_at < :cutoff)
               AS reports_received_until,
           (SELECT count(*) FROM report_reviews r JOIN asset_events e ON e.id = r.event_id
             WHERE e.observed_at < :cutoff) AS reviews,
           (SELECT max(r.reviewed_at) FROM report_reviews r JOIN asset_events e
                ON e.id = r.event_id WHERE e.observed_at < :cutoff) AS reviewed_until,
           (SELECT count(*) FROM deadline_changes) AS rule_changes,
           (SELECT max(changed_at) FROM deadline_changes) AS rules_changed_at
    """
)


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def write_report(
    session: Session, *, principal: Principal, as_of: dt.date, folder: Path
) -> dict[str, Any]:
    """Write ``progress-D.xlsx``, ``progress-D.csv`` and ``manifest-D.json`` into ``folder``;
    returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    generated_at = dt.datetime.now(engine.CHINA)
    numbers = [
        dataclasses.asdict(row)
        for row in engine.progress(session, principal=principal, as_of=as_of)
    ]
    files = {
        f"progress-{as_of}.xlsx": exports.progress_workbook(
            session, principal=principal, as_of=as_of, generated_at=generated_at
        ),
        f"progress-{as_of}.csv": exports.progress_csv(session, principal=principal, as_of=as_of),
    }
    for name, body in files.items():
        (folder / name).write_bytes(body)
    revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    history = session.execute(_HISTORY, {"cutoff": engine.end_of(as_of)}).one()._asdict()
    manifest = {
        "as_of": as_of.isoformat(),
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "schema_revision": revision,
        "rules_note": "measured against the deadline rules as they stood when generated",
        "history": json.loads(_canonical(history)),
        "files": {name: hashlib.sha256(body).hexdigest() for name, body in files.items()},
        "numbers_sha256": hashlib.sha256(_canonical(numbers).encode()).hexdigest(),
        "numbers": json.loads(_canonical(numbers)),
    }
    (folder / f"manifest-{as_of}.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return manifest
