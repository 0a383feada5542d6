"""What /healthz reports: the database answers, PostGIS is there, the schema is current."""

from sqlalchemy import text
from sqlalchemy.orm import Session


def database_health(session: Session) -> dict[str, str | int | None]:
    row = session.execute(
        text(
            """
            SELECT current_setting('server_version') AS postgres,
                   postgis_lib_version() AS postgis,
                   (SELECT version_num FROM alembic_version LIMIT 1) AS schema,
                   (SELECT count(*) FROM counties) AS counties
            """
        )
    ).one()
    return dict(row._mapping)
