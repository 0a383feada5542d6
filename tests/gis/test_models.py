"""The SQLAlchemy models (gis/models.py) describe the schema the migrations build, exactly.

Alembic's autogenerate compares the models with the migrated test database: tables, columns,
types, nullability, server defaults, comments, identity columns, primary and foreign keys (with
their ON DELETE / ON UPDATE), unique constraints and indexes (columns, expressions, order). What
it cannot see is left to other tests: views and triggers are not reflected, CHECK constraints
are not compared (tests/gis/test_schema.py proves each with raw SQL), and an index's method and
predicate (USING gist, WHERE ...) are compared here by hand.
"""

from typing import Any

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.runtime.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import Connection, inspect

from gis.models import Base

# Tables in the database that the models leave out on purpose.
NOT_MODELLED = {
    "alembic_version",  # Alembic's record of the applied revision
    "spatial_ref_sys",  # PostGIS's catalogue of coordinate systems
    "topology",  # postgis_topology's catalogue, should it be installed into this schema
    "layer",
}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Compare everything but the tables above, and PostGIS's and SpatiaLite's own tables as
    GeoAlchemy2 knows them (geometry_columns, idx_* ...). Views need no rule: autogenerate
    does not reflect them."""
    if type_ == "table" and name in NOT_MODELLED:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def test_models_match_the_migrated_schema(connection: Connection) -> None:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": include_object,
        },
    )
    migration = produce_migrations(context, Base.metadata)
    assert not migration.upgrade_ops.as_diffs(), (
        "gis/models.py and the migrations disagree. This is what a migration would have to do "
        "to make the database match the models; if the migrations are right, change the models "
        "instead:\n"
        + render_python_code(migration.upgrade_ops, render_item=alembic_helpers.render_item)
    )


def _index_kind(options: dict[str, Any]) -> tuple[str, str | None]:
    """(method, predicate) of an index. PostgreSQL reflects the predicate in its own spelling
    inside parentheses; the models write it in that spelling, without them."""
    where = options.get("postgresql_where")
    if where is not None:
        where = str(where)
        if where.startswith("(") and where.endswith(")"):
            where = where[1:-1]
    return options.get("postgresql_using") or "btree", where


def test_indexes_have_the_migrations_method_and_predicate(connection: Connection) -> None:
    """What autogenerate leaves out: a GiST index in the database must be a GiST index in the
    models, and a partial index must have the same WHERE."""
    inspector = inspect(connection)
    modelled, migrated = {}, {}
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            options = {k: v for k, v in index.dialect_kwargs.items() if v is not None}
            modelled[index.name] = _index_kind(options)
        for reflected in inspector.get_indexes(table.name):
            migrated[reflected["name"]] = _index_kind(reflected.get("dialect_options", {}))
    assert modelled == {name: migrated.get(name) for name in modelled}
