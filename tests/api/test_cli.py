"""The `rebuild` command: the same jobs, refusing bad input with a message and exit code 1."""

import json
import socket
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {"REBUILD_DATABASE_URL": database_url}


def test_db_status_reports_the_local_cluster(cluster) -> None:
    result = runner.invoke(app, ["db", "status"])
    assert result.exit_code == 0
    status = json.loads(result.output)
    assert status["running"] is True and status["port"] == cluster.port


def test_db_up_with_a_database_url_starts_nothing(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["db", "up"], env=env)
    assert result.exit_code == 0
    assert "not starting a local one" in result.output


def test_deadlines_show(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["deadlines", "show"], env=env)
    assert result.exit_code == 0
    assert "2022-05-31  water_completed" in result.output


def test_bad_deadlines_file_changes_nothing(
    env: dict[str, str], tmp_path: Path, engine: Engine
) -> None:
    bad = tmp_path / "deadlines.toml"
    bad.write_text('[rules.x]\nlayer = "roads"\nstage = "done"\ndue = 2022-01-01\n')
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM deadlines")).scalar_one()
    result = runner.invoke(app, ["deadlines", "load", str(bad)], env=env)
    assert result.exit_code == 1
    assert "阶段 'done' 不存在" in result.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM deadlines")).scalar_one() == before


def test_rejected_import_stores_nothing(
    env: dict[str, str], tmp_path: Path, engine: Engine
) -> None:
    csv = tmp_path / "houses.csv"
    csv.write_text(
        "code,kind,county_adcode,name,lon,lat\n"
        "FW-410781-50001,general_repair,410781,好行,114.07,35.40\n"
        "FW-410781-50002,general_repair,410782,县区不符,114.07,35.40\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["import", str(csv), "--layer", "houses"], env=env)
    assert result.exit_code == 1
    # the clerk's row number: the header is row 1 (issue 9)
    assert "第 3 行" in result.output and "卫辉市（410781）" in result.output
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM assets WHERE code LIKE 'FW-410781-5000%'"))
        assert stored.scalar_one() == 0


def test_unreachable_database_is_a_clear_error() -> None:
    env = {"REBUILD_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/nothing"}
    result = runner.invoke(app, ["migrate"], env=env)
    assert result.exit_code == 1
    assert "无法连接数据库" in result.output and "REBUILD_DATABASE_URL" in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"端口 {port} 已被占用" in result.output


def test_a_deadlocked_command_says_to_run_it_again(
    database_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command whose transaction PostgreSQL rolls back in a deadlock (e.g. two imports at
    once) ends with exit code 1 and the message to run it again, not a traceback."""
    import threading
    import time

    import typer

    from api.cli import _transaction
    from gis.settings import Settings

    lock = text("SELECT pg_advisory_xact_lock(:k)")
    other_holds, done = threading.Event(), threading.Event()
    backend: list[int] = []

    def other() -> None:
        # holds lock 2, and asks for lock 1 only once the command waits for lock 2: the command
        # waited first, so its deadlock check runs first and it is the one rolled back
        with engine.connect() as conn, conn.begin():
            conn.execute(lock, {"k": 910_002})
            other_holds.set()
            waiting = text("SELECT count(*) FROM pg_locks WHERE pid = :p AND NOT granted")
            for _ in range(200):
                if backend and conn.execute(waiting, {"p": backend[0]}).scalar_one():
                    break
                time.sleep(0.02)
            conn.execute(lock, {"k": 910_001})
        done.set()

    thread = threading.Thread(target=other)
    command = _transaction(Settings(database_url=database_url))
    with pytest.raises(typer.Exit) as ended, command as session:
        session.execute(lock, {"k": 910_001})
        backend.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        thread.start()
        other_holds.wait(10)
        session.execute(lock, {"k": 910_002})
    thread.join(30)
    assert done.is_set()
    assert ended.value.exit_code == 1
    err = capsys.readouterr().err
    assert "请重新提交" in err and "Send it again" in err and "Traceback" not in err
