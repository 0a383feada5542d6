"""The ``rebuild`` command: the same jobs as the HTTP service, from a terminal."""

import json
import time
from typing import Annotated

import typer

from gis import db, localdb, provision
from gis.errors import LocalDbError, RebuildError
from gis.settings import Settings

app = typer.Typer(help="Rebuild Tracker 灾后重建进度追踪", no_args_is_help=True)
db_app = typer.Typer(help="The project-local PostGIS (used when REBUILD_DATABASE_URL is unset).")
app.add_typer(db_app, name="db")


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _settings() -> Settings:
    return Settings()


@db_app.command("up")
def db_up() -> None:
    """Create (first time) and start the local PostGIS cluster."""
    settings = _settings()
    if settings.database_url:
        typer.echo("REBUILD_DATABASE_URL is set: using that server, not starting a local one.")
        return
    started = time.perf_counter()
    try:
        cluster = localdb.up(settings)
    except LocalDbError as exc:
        _fail(str(exc))
    typer.echo(f"PostGIS is up ({time.perf_counter() - started:.1f} s): {cluster.url()}")


@db_app.command("down")
def db_down() -> None:
    """Stop the local PostGIS cluster (its data stays in .rebuild/pg)."""
    stopped = localdb.down(_settings())
    typer.echo("stopped" if stopped else "not running")


@db_app.command("status")
def db_status() -> None:
    """Show where the local cluster lives and whether it runs."""
    typer.echo(json.dumps(localdb.status(_settings()), indent=2, ensure_ascii=False))


@app.command()
def migrate() -> None:
    """Apply database migrations and load the reference data (counties, deadlines)."""
    try:
        url = provision.prepare(_settings())
    except (LocalDbError, RebuildError) as exc:
        _fail(str(exc))
    typer.echo(f"database ready: {url}")


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port; also the PORT variable of `make run`.")] = 0,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "",
    prepare: Annotated[
        bool, typer.Option(help="Migrate, load reference data and the demo if the DB is empty.")
    ] = False,
) -> None:
    """Serve the HTTP API and maps."""
    import uvicorn

    from api.main import create_app

    settings = _settings()
    host = host or settings.host
    port = port or settings.port
    if prepare:
        try:
            url = provision.prepare(settings)
        except (LocalDbError, RebuildError) as exc:
            _fail(str(exc))
        engine = db.make_engine(url)
        if provision.is_empty(engine):
            from gis import demo

            typer.echo("The database holds no assets: loading the demo data set (scale 1)...")
            report = demo.load_demo(engine, settings, scale=1)
            typer.echo(report.summary())
    typer.echo(f"Rebuild Tracker: open http://{host}:{port}/ (API docs: http://{host}:{port}/docs)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
