"""`rebuild import` as a county office runs it: in a database of its own that the command
commits to, as the account named by --user, and killed in the middle of writing."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app
from gis import db
from gis.settings import Settings
from tests.api.conftest import (
    BLOCKED_BY,
    HONGQI,
    WEIHUI,
    conninfo,
    migrated_database,
    wait_for,
)
from tests.conftest import Databases
from tests.recount import assert_as_recounted
from tests.recount import rows as rows_of

runner = CliRunner()
REBUILD = Path(sys.executable).parent / "rebuild"  # the entry point of pyproject.toml


def _scalar(engine: Engine, sql: str, **params) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _csv(path: Path, rows: list[tuple[str, str, float, float, str]]) -> Path:
    """Houses as (code, county, lon, lat, stage); the percent follows from the stage."""
    lines = ["编号,类别,县区代码,名称,经度,纬度,形象进度"]
    lines += [f"{c},一般损坏,{county},{c},{x:.6f},{y:.6f},{s}" for c, county, x, y, s in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- --user --------------------------------------------------------------------------------------


def test_unknown_disabled_and_reading_accounts_are_refused(
    own_url: str, own_engine: Engine, tmp_path: Path
) -> None:
    path = _csv(tmp_path / "houses.csv", [("FW-410781-81001", WEIHUI, 114.07, 35.40, "")])
    env = {"REBUILD_DATABASE_URL": own_url}
    cases = {
        "nobody": ("用户 nobody 不存在", "rebuild users list"),
        "gone": ("账号 gone 已停用", "rebuild users list"),
        "inspector-weihui": ("此操作仅限：管理员、县区管理员", "Only these roles"),
    }
    for name, words in cases.items():
        result = runner.invoke(
            app, ["import", str(path), "--layer", "houses", "--user", name], env=env
        )
        assert result.exit_code == 1, result.output
        assert all(w in result.output for w in words), result.output
        # Chinese first, then English
        assert result.output.index(words[0]) < result.output.index(words[1])
    assert _scalar(own_engine, "SELECT count(*) FROM assets WHERE code = 'FW-410781-81001'") == 0


def test_a_managers_import_names_them_and_keeps_to_their_counties(
    own_url: str, own_engine: Engine, tmp_path: Path
) -> None:
    env = {"REBUILD_DATABASE_URL": own_url}
    as_manager = ["--layer", "houses", "--user", "manager-weihui"]
    outside = _csv(
        tmp_path / "outside.csv",
        [
            ("FW-410781-81101", WEIHUI, 114.07, 35.40, "已开工"),
            ("FW-410702-81102", HONGQI, 113.9362, 35.2736, ""),
        ],
    )
    result = runner.invoke(app, ["import", str(outside), *as_manager], env=env)
    assert result.exit_code == 1
    assert "第 3 行" in result.output and "不在您负责的县区内" in result.output
    assert _scalar(own_engine, "SELECT count(*) FROM assets WHERE code LIKE '%-811__'") == 0

    inside = _csv(tmp_path / "inside.csv", [("FW-410781-81101", WEIHUI, 114.07, 35.40, "已开工")])
    result = runner.invoke(app, ["import", str(inside), *as_manager], env=env)
    assert result.exit_code == 0, result.output
    update = tmp_path / "update.csv"
    update.write_text("编号,形象进度,完成百分比\nFW-410781-81101,已开工,60\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(update), *as_manager, "--update"], env=env)
    assert result.exit_code == 0, result.output
    with own_engine.connect() as conn:
        reporters = conn.execute(
            text(
                "SELECT e.percent, u.username FROM asset_events e JOIN assets a ON a.id = "
                "e.asset_id LEFT JOIN users u ON u.id = e.reporter_id "
                "WHERE a.code = 'FW-410781-81101' ORDER BY e.percent"
            )
        ).all()
    # the first event (the inventory's stage) and the progress report: both the manager's
    assert [tuple(r) for r in reporters] == [(0, "manager-weihui"), (60, "manager-weihui")]

    # A manager may not update another county's asset either.
    hongqi = _csv(tmp_path / "hongqi.csv", [("FW-410702-81201", HONGQI, 113.9362, 35.2736, "")])
    assert runner.invoke(app, ["import", str(hongqi), "--layer", "houses"], env=env).exit_code == 0
    hongqi.write_text("编号,形象进度\nFW-410702-81201,已开工\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(hongqi), *as_manager, "--update"], env=env)
    assert result.exit_code == 1 and "不在您负责的县区内" in result.output
    stage = "SELECT stage FROM assets WHERE code = 'FW-410702-81201'"
    assert _scalar(own_engine, stage) == "not_started"


def test_a_report_that_cannot_be_written_is_refused_before_importing(
    own_url: str, own_engine: Engine, tmp_path: Path
) -> None:
    """Before: the import was committed, then writing the report failed with a traceback."""
    path = _csv(tmp_path / "houses.csv", [("FW-410781-81301", WEIHUI, 114.07, 35.40, "")])
    report = tmp_path / "missing" / "report.xlsx"
    result = runner.invoke(
        app,
        ["import", str(path), "--layer", "houses", "--report", str(report)],
        env={"REBUILD_DATABASE_URL": own_url},
    )
    assert result.exit_code == 1 and "不存在或不可写" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert _scalar(own_engine, "SELECT count(*) FROM assets WHERE code = 'FW-410781-81301'") == 0


def test_a_header_row_below_1_is_refused(own_url: str, own_engine: Engine, tmp_path: Path) -> None:
    """Before: --header-row 0 fell back to finding the header and imported."""
    path = _csv(tmp_path / "houses.csv", [("FW-410781-81401", WEIHUI, 114.07, 35.40, "")])
    result = runner.invoke(
        app,
        ["import", str(path), "--layer", "houses", "--header-row", "0"],
        env={"REBUILD_DATABASE_URL": own_url},
    )
    assert result.exit_code == 1, result.output
    assert "行号从 1 开始" in result.output and "numbered from 1" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert _scalar(own_engine, "SELECT count(*) FROM assets WHERE code = 'FW-410781-81401'") == 0


# --- Two imports of the same codes at once -------------------------------------------------------


def test_the_loser_of_two_imports_of_the_same_codes_is_told_to_run_again(
    own_url: str, own_engine: Engine, tmp_path: Path
) -> None:
    """Before: the second import hit the unique code and ended with a traceback. The loser (an
    update that also adds two codes) is held, after its checks found the codes free, by a row
    lock this test takes on the asset it reports on; meanwhile the winner imports the two codes
    and commits."""
    env = {"REBUILD_DATABASE_URL": own_url}
    reported = ("FW-410781-82001", WEIHUI, 114.07, 35.40, "")
    one = _csv(tmp_path / "one.csv", [reported])
    first = runner.invoke(app, ["import", str(one), "--layer", "houses"], env=env)
    assert first.exit_code == 0, first.output
    both = [(f"FW-410781-8200{n}", WEIHUI, 114.07, 35.40, "") for n in (2, 3)]
    winner = _csv(tmp_path / "winner.csv", both)
    loser = _csv(tmp_path / "loser.csv", [(*reported[:4], "已开工"), *both])
    with (
        psycopg.connect(conninfo(own_url), autocommit=True) as watch,
        psycopg.connect(conninfo(own_url)) as holder,
    ):
        holder.execute("SELECT FROM assets WHERE code = %s FOR UPDATE", (reported[0],))
        process = subprocess.Popen(
            [str(REBUILD), "import", str(loser), "--layer", "houses", "--update"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _, query = wait_for(
                "the loser to wait for the asset it reports on",
                60,
                lambda: (
                    process.poll() is None
                    and watch.execute(BLOCKED_BY, (holder.info.backend_pid,)).fetchone()
                ),
            )
            assert "FOR UPDATE" in query
            won = runner.invoke(app, ["import", str(winner), "--layer", "houses"], env=env)
            assert won.exit_code == 0, won.output
        finally:
            holder.rollback()
            output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert "Traceback" not in output
    words = ("另一次导入", "FW-410781-82002、FW-410781-82003", "未导入任何数据", "--update",
             "another import", "Nothing was imported")  # fmt: skip
    assert all(w in output for w in words), output
    assert output.index("未导入任何数据") < output.index("Nothing was imported")
    # nothing of the loser: its progress report and its codes are gone, the winner's stay
    assert _scalar(own_engine, "SELECT stage FROM assets WHERE code = :c", c=reported[0]) == (
        "not_started"
    )
    assert _scalar(own_engine, "SELECT count(*) FROM assets WHERE code LIKE 'FW-410781-8200_'") == 3


# --- Killed mid-import ---------------------------------------------------------------------------

KILLED_ROWS = 5_000
_WAITING = """
    SELECT a.pid, a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE NOT l.granted AND l.relation = 'asset_events'::regclass
       AND a.datname = current_database()
"""
_SHAPE = """
    SELECT string_agg(x, ' ' ORDER BY x) FROM (
        SELECT conname::text AS x FROM pg_constraint
         WHERE conrelid IN ('assets'::regclass, 'asset_events'::regclass)
        UNION ALL
        SELECT indexrelid::regclass::text FROM pg_index
         WHERE indrelid IN ('assets'::regclass, 'asset_events'::regclass)) AS keys
"""
_CONTENT = """
    SELECT (SELECT count(*) FROM assets), (SELECT count(*) FROM asset_events),
           (SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))
              FROM progress_tallies t),
           (SELECT md5(coalesce(string_agg(c::text, ',' ORDER BY c::text), ''))
              FROM tile_cells c),
           (SELECT count(*) FROM pg_class WHERE relname = 'import_rows')
"""


def test_killed_while_writing_leaves_nothing_and_a_rerun_succeeds(
    own_url: str, tmp_path: Path
) -> None:
    """The import is held at its last write (its events, after the rows were staged by COPY and
    the assets inserted) by a lock this test holds, killed there with SIGKILL, then let go."""
    rng = np.random.default_rng(9)
    stages = np.where(np.arange(KILLED_ROWS) % 2 == 0, "已开工", "")
    rows = [
        (f"FW-410781-9{n:04d}", WEIHUI, 114.07 + dx, 35.40 + dy, s)
        for n, (dx, dy, s) in enumerate(
            zip(
                rng.uniform(0, 0.01, KILLED_ROWS),
                rng.uniform(0, 0.01, KILLED_ROWS),
                stages,
                strict=True,
            )
        )
    ]
    path = _csv(tmp_path / "big.csv", rows)
    command = [str(REBUILD), "import", str(path), "--layer", "houses"]
    env = {**os.environ, "REBUILD_DATABASE_URL": own_url}
    with psycopg.connect(conninfo(own_url), autocommit=True) as watch:
        shape = watch.execute(_SHAPE).fetchone()
        before = watch.execute(_CONTENT).fetchone()
        with psycopg.connect(conninfo(own_url)) as holder:
            holder.execute("LOCK TABLE asset_events IN SHARE MODE")  # held until rollback
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            try:

                def waiting():
                    if process.poll() is not None:
                        output = process.stdout.read().decode()
                        raise AssertionError(f"the import ended before writing: {output}")
                    return watch.execute(_WAITING).fetchone()

                pid, query = wait_for("the import to reach its event insert", 180, waiting)
                assert "INSERT INTO asset_events" in query
                assert process.poll() is None  # still running: it has not committed
                process.send_signal(signal.SIGKILL)
                assert process.wait(timeout=30) == -signal.SIGKILL
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                process.stdout.close()
            holder.rollback()
        wait_for(
            "the killed import's server process to end",
            60,
            lambda: (
                not watch.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchall()
            ),
        )
        assert watch.execute(_CONTENT).fetchone() == before  # no row, no tally, no staging
        assert watch.execute(_SHAPE).fetchone() == shape

        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"已新建 {KILLED_ROWS:,}" in done.stdout
        assets, events, *_, staging = watch.execute(_CONTENT).fetchone()
        assert (assets - before[0], events - before[1], staging) == (
            KILLED_ROWS,
            KILLED_ROWS // 2,
            0,
        )
        # Without --user the terminal imports: its events name no reporter.
        reporters = watch.execute(
            "SELECT count(*) FROM asset_events e JOIN assets a ON a.id = e.asset_id "
            "WHERE a.code LIKE 'FW-410781-9%%' AND e.reporter_id IS NOT NULL"
        ).fetchone()[0]
        assert reporters == 0


# The bulk path (keys dropped and rebuilt, tallies computed at the end) is taken from
# load.BULK_MIN rows into an empty table: 100,000 in the product, lowered here in the child
# process itself so that the same command takes it with a few hundred rows.
BULK_ROWS = 300
_BULK_IMPORT = "from gis.imports import load; load.BULK_MIN = 100; from api.cli import app; app()"
_TRIGGERS = """
    SELECT string_agg(tgname || ':' || CAST(tgenabled AS text), ' ' ORDER BY tgname)
      FROM pg_trigger
     WHERE tgrelid IN ('assets'::regclass, 'asset_events'::regclass) AND NOT tgisinternal
"""
# A trigger of the test's own: the import's event insert waits for an advisory lock it holds.
_HOLD = """
    CREATE FUNCTION test_hold() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN PERFORM pg_advisory_xact_lock(720); RETURN NULL; END $$;
    CREATE TRIGGER test_hold AFTER INSERT ON asset_events
       FOR EACH STATEMENT EXECUTE FUNCTION test_hold();
"""


def test_a_bulk_import_killed_while_writing_leaves_nothing(
    databases: Databases, settings: Settings, tmp_path: Path
) -> None:
    """Killed inside the bulk path (keys and indexes dropped, tally triggers off, assets
    inserted): keys, triggers and content are as before; run again, it loads and its tallies
    and tile cells are those a recount gives."""
    rows = [
        (f"FW-410781-7{n:04d}", WEIHUI, 114.07 + n * 1e-5, 35.40, "已开工" if n % 2 else "")
        for n in range(BULK_ROWS)
    ]
    path = _csv(tmp_path / "bulk.csv", rows)
    command = [sys.executable, "-c", _BULK_IMPORT, "import", str(path), "--layer", "houses"]
    with migrated_database(databases, settings, "_bulk") as url:
        env = {**os.environ, "REBUILD_DATABASE_URL": url}
        with (
            psycopg.connect(conninfo(url), autocommit=True) as watch,
            psycopg.connect(conninfo(url), autocommit=True) as holder,
        ):
            watch.execute(_HOLD)
            before = [watch.execute(q).fetchone() for q in (_SHAPE, _TRIGGERS, _CONTENT)]
            holder.execute("SELECT pg_advisory_lock(720)")
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            try:
                pid, query = wait_for(
                    "the import to reach its event insert",
                    60,
                    lambda: (
                        process.poll() is None
                        and watch.execute(BLOCKED_BY, (holder.info.backend_pid,)).fetchone()
                    ),
                )
                assert "INSERT INTO asset_events" in query
                held = "SELECT mode FROM pg_locks WHERE pid = %s AND relation = 'assets'::regclass"
                modes = {m for (m,) in watch.execute(held, (pid,))}
                assert "AccessExclusiveLock" in modes  # the bulk path: only it locks the table
                process.send_signal(signal.SIGKILL)
                assert process.wait(timeout=30) == -signal.SIGKILL
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                process.stdout.close()
                holder.execute("SELECT pg_advisory_unlock(720)")
            wait_for(
                "the killed import's server process to end",
                60,
                lambda: (
                    not watch.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
                    ).fetchall()
                ),
            )
            assert [watch.execute(q).fetchone() for q in (_SHAPE, _TRIGGERS, _CONTENT)] == before

            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"已新建 {BULK_ROWS:,}" in done.stdout
            assert [watch.execute(q).fetchone() for q in (_SHAPE, _TRIGGERS)] == before[:2]
        with Session(db.make_engine(url)) as session:
            assert rows_of(session, "SELECT count(*) FROM asset_events") == [(BULK_ROWS // 2,)]
            for table, rebuild in (("progress_tallies", "tally_rebuild"),
                                   ("tile_cells", "tile_cells_rebuild")):  # fmt: skip
                assert_as_recounted(session, f"SELECT t::text FROM {table} t ORDER BY 1", rebuild)


# --- Two bulk imports into the empty table at once -----------------------------------------------


def _houses(path: Path, first: int, *, codes: bool) -> Path:
    """BULK_ROWS houses in 卫辉市 from number ``first``, half of them 已开工; with ``codes`` or
    without (the import then makes them)."""
    lines = ["编号,类别,县区代码,名称,经度,纬度,形象进度"]
    lines += [
        f"{f'FW-410781-6{n:04d}' if codes else ''},一般损坏,{WEIHUI},住房{n},"
        f"{114.07 + n * 1e-5:.5f},35.40,{'已开工' if n % 2 else ''}"
        for n in range(first, first + BULK_ROWS)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "files", "codes"),
    [
        ("same", (0, 0), True),  # the same file sent twice: the second is refused
        ("own", (0, BULK_ROWS), True),  # two files of codes of their own: both stored
        ("coded", (0, BULK_ROWS), False),  # codes made by the import: both stored
    ],
)
def test_two_bulk_imports_into_the_empty_table_at_once(
    databases: Databases,
    settings: Settings,
    tmp_path: Path,
    case: str,
    files: tuple[int, int],
    codes: bool,
) -> None:
    """Before: the one whose lock waited for the other's read of the counties was killed as a
    deadlock, the command ending in a traceback. Both start on the empty table at once (held
    at their first look at the counties by a lock this test takes): one loads in bulk, the
    other stages its rows, refused when its codes are taken, else stored (made codes numbered
    on from the first's). Nothing half-written either way: keys, triggers, tallies and tile
    cells as they should be."""
    paths = [_houses(tmp_path / f"{n}.csv", first, codes=codes) for n, first in enumerate(files)]
    with migrated_database(databases, settings, f"_two_{case}") as url:
        env = {**os.environ, "REBUILD_DATABASE_URL": url}
        with (
            psycopg.connect(conninfo(url), autocommit=True) as watch,
            psycopg.connect(conninfo(url)) as holder,
        ):
            before = [watch.execute(q).fetchone() for q in (_SHAPE, _TRIGGERS)]
            holder.execute("LOCK TABLE counties IN ACCESS EXCLUSIVE MODE")  # until rollback
            processes = [
                subprocess.Popen(
                    [sys.executable, "-c", _BULK_IMPORT, "import", str(p), "--layer", "houses"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for p in paths
            ]
            try:
                waiting = wait_for(
                    "both imports to wait for the counties",
                    60,
                    lambda: (
                        all(p.poll() is None for p in processes)
                        and len(found := watch.execute(BLOCKED_BY, (holder.info.backend_pid,))
                                .fetchall()) == 2
                        and found
                    ),
                )  # fmt: skip
                assert all("FROM counties" in query for _, query in waiting), waiting
            finally:
                holder.rollback()
                outputs = [p.communicate(timeout=120)[0] for p in processes]
            assert [watch.execute(q).fetchone() for q in (_SHAPE, _TRIGGERS)] == before
            stored = watch.execute("SELECT count(*), count(DISTINCT code) FROM assets").fetchone()
        ended = sorted((p.returncode, out) for p, out in zip(processes, outputs, strict=True))
        assert all("Traceback" not in out for _, out in ended), ended
        if case == "same":
            (won, won_out), (lost, lost_out) = ended
            assert (won, lost) == (0, 1), ended
            assert f"已新建 {BULK_ROWS:,}" in won_out
            # refused by the checks (the other committed first) or by the unique code (both
            # were writing): either way the codes and what to do
            words = ("FW-410781-6", "--update", "未导入任何数据", "nothing was imported")
            assert all(w.lower() in lost_out.lower() for w in words), lost_out
            assert stored == (BULK_ROWS, BULK_ROWS)
        else:
            assert [code for code, _ in ended] == [0, 0], ended
            assert all(f"已新建 {BULK_ROWS:,}" in out for _, out in ended), ended
            assert stored == (2 * BULK_ROWS, 2 * BULK_ROWS)
        with Session(db.make_engine(url)) as session:
            events = rows_of(session, "SELECT count(*) FROM asset_events")
            assert events == [(stored[0] // 2,)]
            for table, rebuild in (("progress_tallies", "tally_rebuild"),
                                   ("tile_cells", "tile_cells_rebuild")):  # fmt: skip
                assert_as_recounted(session, f"SELECT t::text FROM {table} t ORDER BY 1", rebuild)
