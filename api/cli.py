"""The ``rebuild`` command: the same jobs as the HTTP service, from a terminal."""

import datetime as dt
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from gis import db, loaders, localdb, provision
from gis.access import TERMINAL
from gis.errors import LocalDbError, RebuildError, colliding_change, rolled_back
from gis.settings import Settings

app = typer.Typer(help="Rebuild Tracker 灾后重建进度追踪", no_args_is_help=True)
db_app = typer.Typer(
    help="本地 PostGIS 数据库 The project-local PostGIS (when REBUILD_DATABASE_URL is unset)."
)
app.add_typer(db_app, name="db")


def _fail(problem: str | Exception) -> None:
    message = f"{problem.zh}\n{problem.en}" if isinstance(problem, RebuildError) else str(problem)
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _settings() -> Settings:
    return Settings()


@db_app.command("up")
def db_up() -> None:
    """创建（首次）并启动本地数据库 Create (first time) and start the local PostGIS."""
    settings = _settings()
    if settings.database_url:
        typer.echo(
            "已设置 REBUILD_DATABASE_URL，使用该数据库，不启动本地数据库。\n"
            "REBUILD_DATABASE_URL is set: using that server, not starting a local one."
        )
        return
    started = time.perf_counter()
    try:
        cluster = localdb.up(settings)
    except LocalDbError as exc:
        _fail(exc)
    typer.echo(
        f"数据库已启动 PostGIS is up ({time.perf_counter() - started:.1f} s): {cluster.url()}"
    )


@db_app.command("down")
def db_down() -> None:
    """停止本地数据库（数据保留）Stop the local PostGIS (its data stays)."""
    stopped = localdb.down(_settings())
    typer.echo("已停止 stopped" if stopped else "未在运行 not running")


@db_app.command("status")
def db_status() -> None:
    """本地数据库的位置与状态 Where the local PostGIS lives and whether it runs."""
    typer.echo(json.dumps(localdb.status(_settings()), indent=2, ensure_ascii=False))


@app.command()
def migrate() -> None:
    """升级数据库结构并载入县界、时间节点 Migrate; load counties and deadlines."""
    engine = _prepared_engine(_settings())
    typer.echo(f"数据库已就绪 database ready: {engine.url.render_as_string(hide_password=True)}")


@contextmanager
def _transaction(settings: Settings | None = None) -> Iterator[Session]:
    """One transaction on the prepared database; a domain error ends the command with its
    message (nothing is kept)."""
    engine = _prepared_engine(settings or _settings())
    try:
        with db.transaction(engine) as session:
            yield session
    except RebuildError as exc:
        _fail(exc)
    except (DBAPIError, psycopg.Error) as exc:  # psycopg's own: the imports' COPY and locks
        if not rolled_back(exc):
            raise
        _fail(colliding_change())


def _prepared_engine(settings: Settings) -> Engine:
    try:
        return db.make_engine(provision.prepare(settings))
    except (LocalDbError, RebuildError) as exc:
        _fail(exc)
    except OperationalError as exc:
        where = "REBUILD_DATABASE_URL" if settings.database_url else "the local database"
        _fail(
            f"无法连接数据库：{exc.orig}\n请检查 {where} 是否正确、数据库是否在运行"
            "（本地数据库：rebuild db status）。\n"
            f"Cannot connect to the database: check {where} and that the server is running."
        )


@app.command()
def demo(
    scale: Annotated[
        float, typer.Option(help="Multiplies the volumes (1 = about 30,000 houses).")
    ] = 1.0,
    seed: Annotated[
        int | None, typer.Option(help="Random seed (default: REBUILD_DEMO_SEED).")
    ] = None,
    replace: Annotated[bool, typer.Option(help="Delete all assets and events first.")] = False,
) -> None:
    """载入演示数据（模拟数据）Load the generated demo data set (seeded, deterministic)."""
    from gis import demo as demo_data

    settings = _settings()
    engine = _prepared_engine(settings)
    try:
        report = demo_data.load_demo(engine, settings, scale=scale, seed=seed, replace=replace)
    except RebuildError as exc:
        _fail(exc)
    typer.echo(report.summary())


@app.command("import")
def import_(
    path: Annotated[
        Path, typer.Argument(help="GeoPackage, Shapefile, GeoJSON, KML, CSV or Excel (.xlsx)")
    ],
    layer: Annotated[str, typer.Option(help="houses, water_works or roads")],
    update: Annotated[
        bool, typer.Option("--update", help="match rows to assets by code and update them")
    ] = False,
    crs: Annotated[
        str | None,
        typer.Option(
            help="WGS84, CGCS2000, GCJ-02, BD-09, CGCS2000-GK3-38, CGCS2000-GK3-114E, EPSG:n"
        ),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="e.g. gbk, utf-8 (default: detected)")
    ] = None,
    header_row: Annotated[
        int | None,
        typer.Option(
            "--header-row",
            help="Excel and CSV: the header's row number, from 1 as Excel shows (default: found)",
        ),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(help="Excel: the sheet (default: the first); GeoPackage: the layer"),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="a county's column and value mapping (TOML)")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="write the rows with their problems to FILE.xlsx")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="import the good rows, skip the bad")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only check; store nothing")] = False,
    observed_at: Annotated[
        str | None,
        typer.Option(
            "--observed-at", help="when the progress columns were observed (ISO date/time)"
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="导入人 the importing account (an active admin or county manager): its reports "
            "name it as reporter and a manager's county scope applies, as for POST /imports. "
            "Without it: the terminal, city-wide, with no reporter named.",
        ),
    ] = None,
) -> None:
    """导入台账：先逐行检查，默认全部通过才保存 Import an inventory (all rows or none)."""
    from rich.progress import Progress

    from gis import users
    from gis.imports import ImportOptions, ImportRejected, import_inventory
    from gis.imports.report import write_report

    options = ImportOptions(
        mode="update" if update else "create",
        crs=crs,
        encoding=encoding,
        header_row=header_row,
        sheet=sheet,
        mapping=mapping,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
        observed_at=_moment(observed_at),
    )
    if report:
        _check_writable(report)
    summary = None
    with _transaction() as session, Progress(transient=True) as bar:
        principal = users.active_principal(session, user) if user else TERMINAL
        task = bar.add_task("导入 importing", total=5)

        def step(name: str) -> None:
            bar.update(task, advance=1, description=name)

        try:
            summary = import_inventory(
                session, path=path, layer=layer, options=options, principal=principal, step=step
            )
        except ImportRejected as exc:
            if report:
                write_report(exc.summary, report)
                typer.echo(f"报告已写入 report written: {report}", err=True)
            raise
    if report:
        write_report(summary, report)
    typer.echo(summary.text())
    if report:
        typer.echo(f"报告已写入 report written: {report}")


def _check_writable(path: Path) -> None:
    """Refuse an output path whose folder is missing or read-only before any work is done (the
    import would otherwise be stored and then fail to write its report)."""
    folder = path.resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK) or path.is_dir():
        _fail(
            f"无法写入 {path}：目录 {folder} 不存在或不可写。请先创建该目录，或换一个位置。\n"
            f"Cannot write {path}: the folder {folder} is missing or not writable; create it "
            "or choose another place."
        )


def _moment(text: str | None) -> dt.datetime | None:
    """An ISO date or date-time; a date is that day's midnight, China time."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(
            f"时间 {text!r} 格式不对，应为 2022-05-31 或 2022-05-31T10:00+08:00。\n"
            "--observed-at must be an ISO date or date-time."
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return moment


deadlines_app = typer.Typer(help="时间节点 Deadline rules and milestones (data/deadlines.toml).")
app.add_typer(deadlines_app, name="deadlines")


@deadlines_app.command("load")
def deadlines_load(
    path: Annotated[
        Path | None, typer.Argument(help="A deadlines file; default data/deadlines.toml.")
    ] = None,
) -> None:
    """用文件替换时间节点 Replace the deadline rules and milestones with a file's."""
    settings = _settings()
    with _transaction(settings) as session:
        count = loaders.load_deadlines(session, path or settings.data_dir / "deadlines.toml")
    typer.echo(f"已载入 {count} 条时间节点 loaded {count} deadline rules")


@deadlines_app.command("show")
def deadlines_show() -> None:
    """列出时间节点及截止日期 List the deadline rules with their due dates."""
    with _transaction() as session:
        rows = loaders.deadline_rules(session)
    for row in rows:
        selector = "/".join(str(x) for x in (row.layer, row.kind, row.batch) if x is not None)
        typer.echo(f"{row.due_on}  {row.rule:<26} {selector:<28} -> {row.stage:<17} {row.label_zh}")


def _day(as_of: str | None) -> dt.date:
    """The day asked for on the command line (YYYY-MM-DD), or today in China."""
    from gis.progress import china_today

    if not as_of:
        return china_today()
    try:
        return dt.date.fromisoformat(as_of)
    except ValueError:
        _fail(f"日期 {as_of!r} 格式不对，应为 YYYY-MM-DD。\nas_of must be YYYY-MM-DD.")


@app.command("progress")
def progress_cmd(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="截至日期 YYYY-MM-DD (default: today)")
    ] = None,
    county: Annotated[str | None, typer.Option(help="县区代码 county adcode")] = None,
    layer: Annotated[str | None, typer.Option(help="houses, water_works or roads")] = None,
) -> None:
    """对照时间节点的进度表 Progress against the deadlines, per county and for the city."""
    from rich.console import Console
    from rich.table import Table

    from gis import progress as engine

    day = _day(as_of)
    with _transaction() as session:
        rows = engine.progress(session, principal=TERMINAL, as_of=day, county=county, layer=layer)
    table = Table(title=f"重建进度（截至 {day}）Progress as of {day}")
    for header in ("节点 rule", "截止 due", "县区 county", "总数 total", "已达 reached",
                   "完成率 %", "剩余天数 days left", "需日均 required/day", "近14天日均 recent/day",
                   "预计完成 projected", "状态 status"):  # fmt: skip
        table.add_column(header)
    for r in rows:
        table.add_row(
            r.label_zh,
            str(r.due_on),
            r.county_zh or "合计 total",
            str(r.total),
            str(r.reached),
            f"{r.percent:.1f}",
            str(r.days_left),
            "" if r.required_per_day is None else f"{r.required_per_day:.2f}",
            f"{r.recent_per_day:.2f}",
            "" if r.projected_finish is None else str(r.projected_finish),
            f"{engine.STATUS_ZH[r.status]} {r.status}",
        )
    Console(width=200).print(table)


export_app = typer.Typer(help="导出 Exports for county offices.")
app.add_typer(export_app, name="export")


@export_app.command("progress")
def export_progress(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="the file to write: .xlsx (workbook) or .csv")
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="截至日期 YYYY-MM-DD (default: today)")
    ] = None,
    county: Annotated[str | None, typer.Option(help="县区代码 county adcode")] = None,
) -> None:
    """导出进度表 Write the progress workbook (.xlsx) or summary (.csv), as /exports/progress.*"""

    from gis import exports

    day = _day(as_of)
    with _transaction() as session:
        write = exports.progress_csv if output.suffix == ".csv" else exports.progress_workbook
        body = write(session, principal=TERMINAL, as_of=day, county=county)
    output.write_bytes(body)
    typer.echo(f"已写入 {output}（{len(body):,} 字节）wrote {output}")


@app.command("map")
def map_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="the HTML file to write")],
    layer: Annotated[
        str | None,
        typer.Option(help="houses, water_works or roads (default: the counties' overview)"),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="截至日期 YYYY-MM-DD (default: today)")
    ] = None,
    county: Annotated[str | None, typer.Option(help="县区代码 county adcode")] = None,
    kind: Annotated[str | None, typer.Option(help="类别 kind of asset (layer maps)")] = None,
    stage: Annotated[str | None, typer.Option(help="阶段 stage on the day (layer maps)")] = None,
    status: Annotated[
        str | None, typer.Option(help="done, pending, overdue or none (layer maps)")
    ] = None,
    rule: Annotated[str | None, typer.Option(help="时间节点 deadline rule (overview)")] = None,
    lang: Annotated[str, typer.Option(help="zh or en")] = "zh",
) -> None:
    """单文件地图 One self-contained HTML map (scripts, styles and features inlined) that opens
    with no server and no internet; a layer map holds at most gis.maps.INLINE_MAX assets."""
    from gis import maps
    from gis.maps.text import check_lang

    settings = _settings()
    day = _day(as_of)
    look = maps.Look(
        lang=check_lang(lang),
        basemap_url=settings.basemap_url,
        basemap_attribution=settings.basemap_attribution,
        served=False,
    )
    with _transaction(settings) as session:
        if layer is None:
            m = maps.overview_map(session, principal=TERMINAL, as_of=day, rule=rule, look=look)
        else:
            flt = maps.AssetFilter(layer, day, county=county, kind=kind, stage=stage, status=status)
            m = maps.layer_map(session, principal=TERMINAL, flt=flt, look=look)
    page = maps.standalone(m, vendor_dir=settings.vendor_dir, static_dir=maps.STATIC_DIR)
    output.write_text(page, encoding="utf-8")
    typer.echo(f"已写入 {output}（{len(page.encode()):,} 字节）wrote {output}")


@app.command("report")
def dated_report(
    output: Annotated[Path, typer.Option("-o", "--output", help="folder to write into")],
    as_of: Annotated[str, typer.Option("--as-of", help="截至日期 YYYY-MM-DD")],
) -> None:
    """存档报表 A dated report: workbook, CSV and a manifest with hashes and the numbers."""

    from gis.dated_report import write_report

    day = _day(as_of)
    with _transaction() as session:
        manifest = write_report(session, principal=TERMINAL, as_of=day, folder=output)
    typer.echo(
        f"已写入 {output}：{', '.join(manifest['files'])}；数字指纹 numbers sha256 "
        f"{manifest['numbers_sha256'][:16]}…"
    )


@app.command("digest")
def digest_cmd(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="截至日期 YYYY-MM-DD (default: today)")
    ] = None,
    send: Annotated[
        bool, typer.Option(help="post it to REBUILD_DIGEST_WEBHOOK (WeCom or DingTalk)")
    ] = False,
) -> None:
    """进度日报 The daily digest: print it, or --send it to the group robot."""

    from gis import digest

    settings = _settings()
    day = _day(as_of)
    with _transaction(settings) as session:
        report = digest.build(
            session, principal=TERMINAL, as_of=day, stale_days=settings.stale_days
        )
    if not send:
        typer.echo(report.markdown)
        return
    if not settings.digest_webhook:
        _fail(
            "未设置 REBUILD_DIGEST_WEBHOOK（企业微信或钉钉群机器人的地址）。\n"
            "Set REBUILD_DIGEST_WEBHOOK to the group robot's webhook URL."
        )
    delivered = digest.send(
        report,
        url=settings.digest_webhook,
        kind=settings.digest_kind,
        secret=settings.digest_secret,
    )
    if not delivered:
        _fail("日报未能送达（已重试），详见日志。The digest could not be delivered (retried).")
    typer.echo(f"日报已发送 digest sent: {report.title}")


users_app = typer.Typer(help="账号 Accounts: admin, viewer, manager, inspector.")
app.add_typer(users_app, name="users")


def _read_password() -> str:
    """From a prompt (twice), or from stdin when it is not a terminal: two lines, the password
    and its repetition (for scripts: printf 'pw\\npw\\n' | rebuild users add ...)."""
    if sys.stdin.isatty():
        return typer.prompt("密码 Password", hide_input=True, confirmation_prompt=True)
    lines = sys.stdin.read().splitlines()
    if len(lines) < 2 or lines[0] != lines[1]:
        _fail(
            "标准输入应为两行：密码和重复的密码，且两者一致。\n"
            "stdin must hold two lines: the password and the same password again."
        )
    return lines[0]


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="用户名 username (lowercase letters, digits, _ . -)")],
    role: Annotated[str, typer.Option(help="admin, viewer, manager or inspector")],
    county: Annotated[
        list[str] | None,
        typer.Option(help="县区代码 county adcode (managers and inspectors; repeat for more)"),
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="姓名 name shown in history")] = None,
) -> None:
    """新建账号 Create an account (password from a prompt, or two lines on stdin)."""
    from gis import users

    password = _read_password()
    with _transaction() as session:
        users.add_user(
            session,
            username=name,
            password=password,
            role=role,
            counties=county or (),
            display_name=display_name,
        )
    typer.echo(f"已创建用户 {name}（{role}） created user {name} ({role})")


@users_app.command("list")
def users_list() -> None:
    """列出账号 List the accounts."""
    from gis import users

    with _transaction() as session:
        rows = users.list_users(session)
    typer.echo("用户名 username\t角色 role\t县区 counties\t状态 state\t姓名 name")
    for u in rows:
        state = "启用 active" if u.is_active else "停用 disabled"
        where = ",".join(u.counties) or "全市 city-wide"
        typer.echo(f"{u.username}\t{u.role}\t{where}\t{state}\t{u.display_name}")


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="用户名 username")]) -> None:
    """停用账号并注销其全部登录 Disable an account and revoke all its tokens."""
    from gis import users

    with _transaction() as session:
        users.disable_user(session, name)
    typer.echo(f"已停用 {name}，其登录已全部失效 disabled {name}; its tokens are revoked")


@users_app.command("passwd")
def users_passwd(name: Annotated[str, typer.Argument(help="用户名 username")]) -> None:
    """重设密码（旧的登录全部失效）Set a new password (ends every existing login)."""
    from gis import users

    password = _read_password()
    with _transaction() as session:
        users.set_password(session, name, password)
    typer.echo(f"已为 {name} 设置新密码 new password set for {name}")


def _can_listen(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _announce_accounts(engine: Engine, settings: Settings) -> None:
    """On the demo database: make sure the demo accounts exist and say where their passwords
    are. Elsewhere: say how to make the first account when there is none."""
    from gis import users
    from gis.demo.accounts import ensure_demo_accounts, is_demo_database

    path = settings.home / "demo-accounts.txt"
    with db.transaction(engine) as session:
        if is_demo_database(session):
            ensure_demo_accounts(session, path)
            typer.echo(
                f"演示账号及密码见 {path}（仅本机可读）\n"
                f"Demo accounts and their passwords: {path} (readable only by you)"
            )
        elif not users.list_users(session):
            typer.echo(
                "还没有任何账号：请先运行 rebuild users add 用户名 --role admin\n"
                "No accounts yet: create one with `rebuild users add NAME --role admin`."
            )


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port; also the PORT variable of `make run`.")] = 0,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "",
    prepare: Annotated[
        bool, typer.Option(help="Migrate, load reference data and the demo if the DB is empty.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Server processes (one Python process uses at most one core)."),
    ] = 1,
) -> None:
    """启动服务 Serve the HTTP API and pages."""
    import uvicorn

    from api.main import create_app

    settings = _settings()
    host = host or settings.host
    port = port or settings.port
    if not _can_listen(host, port):
        _fail(
            f"端口 {port} 已被占用（{host}）。请换一个端口，例如 PORT={port + 80} make run。\n"
            f"Port {port} on {host} is taken; use another, e.g. PORT={port + 80} make run."
        )
    if prepare:
        engine = _prepared_engine(settings)
        if provision.is_empty(engine):
            from gis import demo

            typer.echo(
                "数据库中没有项目，正在载入演示数据… No assets yet: loading the demo data set..."
            )
            report = demo.load_demo(engine, settings, scale=1)
            typer.echo(report.summary())
        _announce_accounts(engine, settings)
    typer.echo(
        f"灾后重建进度追踪已启动，请在浏览器打开 http://{host}:{port}/\n"
        f"Rebuild Tracker: open http://{host}:{port}/ (API docs: http://{host}:{port}/docs)"
    )
    if workers > 1:
        # Each worker process builds its app from the same REBUILD_* environment. A worker
        # starts a whole Python (spawn); on a busy machine that takes longer than uvicorn's
        # default 5 s health check, which would kill and restart it over and over.
        uvicorn.run(
            "api.main:app",
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            timeout_worker_healthcheck=60,
        )
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
