"""The engine's connections: the settings every one of them starts with."""

from sqlalchemy import Engine, text


def test_no_connection_compiles_queries(engine: Engine) -> None:
    """JIT is off on every pooled connection, also after a rollback returned it to the pool."""
    with engine.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"
        conn.rollback()
    with engine.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"
