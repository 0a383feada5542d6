"""Accounts, roles, passwords and tokens.

Passwords are hashed with Argon2 (pwdlib). Tokens are random strings handed to the client once;
the database keeps only their SHA-256, with an expiry, and a revocation time. Disabling a user
revokes every token they hold, and every lookup also checks that the user is still active.
"""

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from pwdlib import PasswordHash
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import db
from gis.access import CITY_WIDE_ROLES, ROLES, SCOPED_ROLES, Principal
from gis.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from gis.queries.features import check_county

USERNAME = re.compile(r"^[a-z0-9_.-]{2,40}$", re.ASCII)
MIN_PASSWORD = 8

_hasher = PasswordHash.recommended()
# Verified against when the user does not exist, so that a wrong name costs as long as a
# wrong password and response times do not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class UserPublic:
    username: str
    display_name: str
    role: str
    counties: tuple[str, ...]
    is_active: bool


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_new_password(password: str) -> None:
    """Raise InvalidInput unless ``password`` is acceptable for an account."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"密码太短：至少 {MIN_PASSWORD} 个字符",
            f"The password is too short: at least {MIN_PASSWORD} characters.",
            field="password",
        )
    if len(password) > 256:
        raise InvalidInput("密码过长：最多 256 个字符", "The password is too long (max 256).")


def _check_role(role: str, counties: Iterable[str]) -> None:
    if role not in ROLES:
        raise InvalidInput(
            f"角色 {role!r} 不存在，可选：" + "、".join(f"{k}（{v}）" for k, v in ROLES.items()),
            f"Unknown role {role!r}; use one of {', '.join(ROLES)}.",
            field="role",
        )
    if role in SCOPED_ROLES and not counties:
        raise InvalidInput(
            f"{ROLES[role]}必须指定负责的县区：--county 县区代码（可多个）",
            f"A {role} works in given counties: add --county ADCODE (one or more).",
            field="county",
        )
    if role in CITY_WIDE_ROLES and counties:
        raise InvalidInput(
            f"{ROLES[role]}面向全市，不指定县区；请去掉 --county",
            f"A {role} is city-wide; drop --county.",
            field="county",
        )


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    counties: Iterable[str] = (),
    display_name: str | None = None,
) -> int:
    """Create an account; returns its id. Flushes, never commits."""
    counties = sorted(set(counties))
    if not USERNAME.match(username):
        raise InvalidInput(
            f"用户名 {username!r} 格式不对：2–40 位小写字母、数字、“_”“.”“-”",
            f"Username {username!r} must be 2-40 lowercase letters, digits, '_', '.' or '-'.",
            field="username",
        )
    _check_role(role, counties)
    check_new_password(password)
    for adcode in counties:
        check_county(session, adcode)
    if session.execute(text("SELECT 1 FROM users WHERE username = :u"), {"u": username}).first():
        raise Conflict(
            f"用户 {username} 已存在；改密码用 rebuild users passwd {username}",
            f"User {username} exists already; change a password with `rebuild users passwd`.",
            field="username",
        )
    user_id = session.execute(
        text(
            "INSERT INTO users (username, display_name, role, password_hash, password_changed_at)"
            " VALUES (:u, :d, :r, :h, now()) RETURNING id"
        ),
        {"u": username, "d": display_name or username, "r": role, "h": hash_password(password)},
    ).scalar_one()
    if counties:
        session.execute(
            text("INSERT INTO user_counties (user_id, county_adcode) VALUES (:i, :c)"),
            [{"i": user_id, "c": c} for c in counties],
        )
    return user_id


def list_users(session: Session) -> list[UserPublic]:
    rows = session.execute(
        text(
            """
            SELECT u.username, u.display_name, u.role, u.is_active,
                   array_remove(array_agg(uc.county_adcode ORDER BY uc.county_adcode), NULL)
                       AS counties
              FROM users u LEFT JOIN user_counties uc ON uc.user_id = u.id
             GROUP BY u.id ORDER BY u.username
            """
        )
    ).all()
    return [
        UserPublic(r.username, r.display_name, r.role, tuple(r.counties), r.is_active) for r in rows
    ]


def _user_id(session: Session, username: str) -> int:
    user_id = session.execute(
        text("SELECT id FROM users WHERE username = :u"), {"u": username}
    ).scalar_one_or_none()
    if user_id is None:
        raise NotFound(
            f"用户 {username} 不存在（rebuild users list 列出全部用户）",
            f"No user {username!r} (`rebuild users list` shows them all).",
            field="username",
        )
    return user_id


def disable_user(session: Session, username: str) -> None:
    """Disable an account and revoke every token it holds."""
    user_id = _user_id(session, username)
    session.execute(
        text(
            "UPDATE users SET is_active = false, disabled_at = coalesce(disabled_at, now()) "
            "WHERE id = :i"
        ),
        {"i": user_id},
    )
    _revoke_all(session, user_id)


def set_password(session: Session, username: str, password: str) -> None:
    """Set a new password and end every session and token made with the old one."""
    check_new_password(password)
    user_id = _user_id(session, username)
    session.execute(
        text("UPDATE users SET password_hash = :h, password_changed_at = now() WHERE id = :i"),
        {"h": hash_password(password), "i": user_id},
    )
    _revoke_all(session, user_id)


def _revoke_all(session: Session, user_id: int) -> None:
    session.execute(
        text("UPDATE auth_tokens SET revoked_at = now() WHERE user_id = :i AND revoked_at IS NULL"),
        {"i": user_id},
    )


_PRINCIPAL = """
    SELECT u.id, u.username, u.display_name, u.role, u.password_hash,
           array_remove(array_agg(uc.county_adcode ORDER BY uc.county_adcode), NULL) AS counties
      FROM users u LEFT JOIN user_counties uc ON uc.user_id = u.id
"""


def _principal(row) -> Principal:
    return Principal(
        user_id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        counties=frozenset(row.counties) if row.role in SCOPED_ROLES else None,
    )


def _bad_login() -> NotAuthenticated:
    return NotAuthenticated(
        "用户名或密码不对，或账号已停用。请重新输入；忘记密码请联系管理员重设。",
        "Wrong username or password, or the account is disabled. Try again; an administrator "
        "can reset a forgotten password.",
        field="password",
    )


def verify_password(session: Session, username: str, password: str) -> Principal:
    """The active user with this name and password; raises NotAuthenticated otherwise."""
    row = session.execute(
        text(f"{_PRINCIPAL} WHERE u.username = :u AND u.is_active GROUP BY u.id"),
        {"u": username},
    ).first()
    hashed = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
    if not _hasher.verify(password, hashed) or row is None or not row.password_hash:
        raise _bad_login()
    return _principal(row)


def password_fingerprint(session: Session, user_id: int) -> str | None:
    """The stored hash of an active user: a cached password check is valid while it holds."""
    return session.execute(
        text("SELECT password_hash FROM users WHERE id = :i AND is_active"), {"i": user_id}
    ).scalar_one_or_none()


def principal_by_id(session: Session, user_id: int) -> Principal | None:
    row = session.execute(
        text(f"{_PRINCIPAL} WHERE u.id = :i AND u.is_active GROUP BY u.id"), {"i": user_id}
    ).first()
    return None if row is None else _principal(row)


def active_principal(session: Session, username: str) -> Principal:
    """The account ``username`` acting from the terminal (e.g. ``rebuild import --user``), with
    its role and counties; refuses an unknown or disabled account."""
    principal = principal_by_id(session, _user_id(session, username))
    if principal is None:
        raise Forbidden(
            f"账号 {username} 已停用，不能使用。请改用启用中的账号（rebuild users list 查看状态）",
            f"The account {username!r} is disabled; use an active one (`rebuild users list` "
            "shows each account's state).",
            field="username",
        )
    return principal


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def issue_token(
    session: Session, *, user_id: int, kind: str, hours: float
) -> tuple[str, dt.datetime]:
    """A new random token for ``user_id`` and its expiry; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    expires_at = session.execute(
        text(
            "INSERT INTO auth_tokens (token_hash, user_id, kind, expires_at) "
            "VALUES (:h, :u, :k, now() + make_interval(secs => :s)) RETURNING expires_at"
        ),
        {"h": _digest(token), "u": user_id, "k": kind, "s": hours * 3600},
    ).scalar_one()
    return token, expires_at


# Asked on every request: run on the driver (gis.db.driver_rows).
_BY_TOKEN = f"""{_PRINCIPAL}
      JOIN auth_tokens t ON t.user_id = u.id
     WHERE t.token_hash = %(h)s AND t.revoked_at IS NULL AND t.expires_at > now()
       AND u.is_active
     GROUP BY u.id
"""


def principal_for_token(session: Session, token: str) -> Principal | None:
    """The user a live token belongs to; None if unknown, expired, revoked or disabled."""
    rows = db.driver_rows(session, _BY_TOKEN, {"h": _digest(token)})
    return _principal(rows[0]) if rows else None


def revoke_token(session: Session, token: str) -> None:
    session.execute(
        text("UPDATE auth_tokens SET revoked_at = now() WHERE token_hash = :h"),
        {"h": _digest(token)},
    )


def county_names(session: Session, adcodes: Iterable[str]) -> list[tuple[str, str]]:
    """(adcode, Chinese name) of the given counties, in adcode order."""
    wanted = sorted(adcodes)
    if not wanted:
        return []
    rows = session.execute(
        text("SELECT adcode, name_zh FROM counties WHERE adcode = ANY(:a) ORDER BY adcode"),
        {"a": wanted},
    ).all()
    return [(r.adcode, r.name_zh) for r in rows]
