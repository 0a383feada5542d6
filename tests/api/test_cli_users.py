"""`rebuild users ...`: accounts from the terminal, passwords never on the command line."""

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app
from gis import db, users

runner = CliRunner()


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {"REBUILD_DATABASE_URL": database_url}


def test_add_list_passwd_disable(env: dict[str, str], engine: Engine) -> None:
    added = runner.invoke(
        app,
        ["users", "add", "cli-wang", "--role", "inspector", "--county", "410781",
         "--county", "410782", "--display-name", "王核查"],
        input="first-password\nfirst-password\n",
        env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["users", "list"], env=env)
    assert "cli-wang\tinspector\t410781,410782\t启用 active\t王核查" in listed.output
    with db.transaction(engine) as session:
        assert users.verify_password(session, "cli-wang", "first-password").role == "inspector"
        token, _ = users.issue_token(
            session, user_id=users.verify_password(session, "cli-wang", "first-password").user_id,
            kind="bearer", hours=1,
        )  # fmt: skip
    changed = runner.invoke(
        app, ["users", "passwd", "cli-wang"], input="second-password\nsecond-password\n", env=env
    )
    assert changed.exit_code == 0
    with db.transaction(engine) as session:
        assert users.principal_for_token(session, token) is None
        users.verify_password(session, "cli-wang", "second-password")
    disabled = runner.invoke(app, ["users", "disable", "cli-wang"], env=env)
    assert disabled.exit_code == 0
    assert "停用 disabled" in runner.invoke(app, ["users", "list"], env=env).output
    with db.transaction(engine) as session:
        row = session.execute(
            text("SELECT is_active, disabled_at FROM users WHERE username = 'cli-wang'")
        ).one()
        assert row.is_active is False and row.disabled_at is not None


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (["cli-a", "--role", "manager"], "password-1\npassword-1\n", "--county"),
        (["cli-b", "--role", "viewer", "--county", "410781"], "password-1\npassword-1\n", "全市"),
        (["cli-c", "--role", "boss"], "password-1\npassword-1\n", "角色"),
        (["cli-d", "--role", "admin"], "password-1\npassword-2\n", "两行"),
        (["cli-e", "--role", "admin"], "short\nshort\n", "太短"),
        (["Cli F", "--role", "admin"], "password-1\npassword-1\n", "用户名"),
        (["cli-g", "--role", "inspector", "--county", "999999"], "password-1\npassword-1\n",
         "999999"),
    ],
)  # fmt: skip
def test_bad_accounts_are_refused_with_what_to_fix(
    env: dict[str, str], engine: Engine, args: list[str], stdin: str, words: str
) -> None:
    result = runner.invoke(app, ["users", "add", *args], input=stdin, env=env)
    assert result.exit_code == 1
    assert words in result.output
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM users WHERE username = :u"), {"u": args[0]}
            ).scalar_one()
            == 0
        )


def test_a_name_is_taken_once(env: dict[str, str]) -> None:
    args = ["users", "add", "cli-twice", "--role", "viewer"]
    assert runner.invoke(app, args, input="password-1\npassword-1\n", env=env).exit_code == 0
    again = runner.invoke(app, args, input="password-1\npassword-1\n", env=env)
    assert again.exit_code == 1 and "已存在" in again.output


def test_unknown_user(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["users", "disable", "nobody-here"], env=env)
    assert result.exit_code == 1 and "rebuild users list" in result.output
