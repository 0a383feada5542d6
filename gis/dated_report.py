"""Reproducible dated reports: the workbook and the CSV for day D, with a manifest holding
their content hashes and the numbers, so that a report sent up can be checked later.

The numbers for D never change once D has passed (reports observed after D do not count for
it), so running the report again for the same D gives the same ``numbers_sha256``; the files'
own hashes differ only by the time of generation printed in them.
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
    manifest = {
        "as_of": as_of.isoformat(),
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "schema_revision": revision,
        "rules_note": "measured against the deadline rules as they stood when generated",
        "files": {name: hashlib.sha256(body).hexdigest() for name, body in files.items()},
        "numbers_sha256": hashlib.sha256(_canonical(numbers).encode()).hexdigest(),
        "numbers": json.loads(_canonical(numbers)),
    }
    (folder / f"manifest-{as_of}.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return manifest
