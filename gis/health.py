"""What /healthz reports: the database answers, PostGIS is there, the schema is current."""

from functools import lru_cache

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import db
from gis.errors import SchemaNotReady


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration this code ships (the schema it expects)."""
    script = ScriptDirectory.from_config(db.alembic_config("postgresql://"))
    head = script.get_current_head()
    assert head is not None, "no migrations found"
    return head


def schema_not_ready(revision: str | None = None) -> SchemaNotReady:
    """A missing or old schema, and what to run about it."""
    found_zh = f"当前为 {revision}" if revision else "尚未建立"
    found_en = f"is at revision {revision}" if revision else "is missing"
    return SchemaNotReady(
        f"数据库结构{found_zh}，与本程序（{head_revision()}）不符：请管理员运行 rebuild migrate"
        "（或 make run）后重试。",
        f"The database schema {found_en}, not {head_revision()} as this code expects: ask the "
        "administrator to run `rebuild migrate` (or `make run`), then retry.",
        field="schema",
    )


def schema_revision(session: Session) -> str | None:
    """The schema's Alembic revision; None when the database was never migrated."""
    if session.execute(text("SELECT to_regclass('alembic_version')")).scalar_one() is None:
        return None
    return session.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def require_current_schema(session: Session) -> str:
    """The schema's revision; raises SchemaNotReady unless it is the head this code ships."""
    revision = schema_revision(session)
    if revision != head_revision():
        raise schema_not_ready(revision)
    return revision


def database_health(session: Session) -> dict[str, str | int | None]:
    """Versions and the schema revision; raises SchemaNotReady when the schema is not current."""
    revision = require_current_schema(session)
    row = session.execute(
        text(
            """
            SELECT current_setting('server_version') AS postgres,
                   postgis_lib_version() AS postgis,
                   (SELECT count(*) FROM counties) AS counties
            """
        )
    ).one()
    return {**row._mapping, "schema": revision}
