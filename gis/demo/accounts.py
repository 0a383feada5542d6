"""One account per role on the demo database, with random passwords written to a private file.

No fixed password exists anywhere: the passwords are drawn when the accounts are made (or when
the file has been lost) and only the file under ``.rebuild/`` knows them.
"""

import os
import secrets
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import users
from gis.access import ROLES, ROLES_EN

WEIHUI = "410781"  # 卫辉市, the worst-hit county: the demo's county people work there
DEMO_ACCOUNTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("demo-admin", "admin", (), "演示管理员"),
    ("demo-viewer", "viewer", (), "演示市级查看"),
    ("demo-manager", "manager", (WEIHUI,), "卫辉市演示管理员"),
    ("demo-inspector", "inspector", (WEIHUI,), "卫辉市演示核查员"),
)


def is_demo_database(session: Session) -> bool:
    return session.execute(text("SELECT 1 FROM app_meta WHERE key = 'demo'")).first() is not None


def ensure_demo_accounts(session: Session, path: Path) -> bool:
    """Make the demo accounts (or give them new passwords when ``path`` is gone) and write their
    passwords to ``path`` (mode 600). Returns whether anything was written."""
    existing = {u.username for u in users.list_users(session)}
    names = {name for name, *_ in DEMO_ACCOUNTS}
    if names <= existing and path.exists():
        return False
    lines = [
        "# 演示账号（随机密码，仅保存在本文件中）Demo accounts (random passwords, kept only here)",
        "# 用户名 username\t角色 role\t县区 counties\t密码 password",
    ]
    for name, role, counties, display in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        if name in existing:
            users.set_password(session, name, password)
        else:
            users.add_user(
                session,
                username=name,
                password=password,
                role=role,
                counties=counties,
                display_name=display,
            )
        where = ",".join(counties) or "全市 city-wide"
        lines.append(f"{name}\t{ROLES[role]} {ROLES_EN[role]}\t{where}\t{password}")
    _write_private(path, "\n".join(lines) + "\n")
    return True


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(content)
    os.replace(temporary, path)
