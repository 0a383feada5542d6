"""Domain errors. Each carries a Chinese and an English message that says what was wrong and
how to fix it; ``api/errors.py`` maps the classes to HTTP status codes in one table."""

from typing import Any


class RebuildError(Exception):
    """Base of every error a user can act on."""

    code = "error"

    def __init__(self, zh: str, en: str, field: str | None = None) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en
        self.field = field
        self.extra: dict[str, Any] = {}  # more members of the error body, e.g. "current"

    def as_dict(self) -> dict[str, Any]:
        body = {"error": self.code, "message": self.zh, "message_en": self.en, "field": self.field}
        return {**body, **self.extra}


class NotFound(RebuildError):
    code = "not_found"


class InvalidInput(RebuildError):
    code = "invalid_input"


class InvalidParameter(InvalidInput):
    """A query parameter that is unknown, repeated or malformed (OGC API asks for 400)."""

    code = "invalid_parameter"


class InvalidGeometry(InvalidInput):
    code = "invalid_geometry"


class OutsideArea(InvalidInput):
    code = "outside_area"


class UnknownCounty(InvalidInput):
    code = "unknown_county"


class InvalidStage(InvalidInput):
    code = "invalid_stage"


class Conflict(RebuildError):
    code = "conflict"


class DuplicateCode(Conflict):
    code = "duplicate_code"


# SQLSTATE class 40, transaction rollback: a deadlock or a serialization failure between two
# transactions writing the same rows at the same moment. Nothing of the loser was kept; sent
# again, it normally goes through. (psycopg files these under OperationalError, a lost
# connection's class.)
ROLLED_BACK_SQLSTATE_CLASS = "40"


def rolled_back(error: BaseException) -> bool:
    """Whether a database error (SQLAlchemy's or psycopg's) is such a rollback."""
    state = getattr(getattr(error, "orig", error), "sqlstate", None) or ""
    return state.startswith(ROLLED_BACK_SQLSTATE_CLASS)


def colliding_change() -> Conflict:
    return Conflict(
        "另一项修改同时在写同样的数据，本次操作未保存任何内容；请重新提交。",
        "Another change was writing the same data at the same moment; nothing of this one was "
        "saved. Send it again.",
    )


class DatabaseUnavailable(RebuildError):
    code = "database_unavailable"


class SchemaNotReady(DatabaseUnavailable):
    """The database answers but its schema is missing or not the one this code expects."""

    code = "schema_not_ready"


class LocalDbError(RuntimeError):
    """The local PostGIS could not be provisioned; the message names the command that fixes it."""


class InvalidPhoto(InvalidInput):
    code = "invalid_photo"


class TooLarge(RebuildError):
    code = "too_large"


class NotAuthenticated(RebuildError):
    code = "not_authenticated"


class Forbidden(RebuildError):
    code = "forbidden"


class PreconditionFailed(RebuildError):
    """The client's version of the asset is stale (If-Match did not match)."""

    code = "version_mismatch"


class PreconditionRequired(RebuildError):
    code = "if_match_required"


class TooManyRequests(RebuildError):
    code = "too_many_requests"


class Busy(RebuildError):
    """The server is doing as much of this as it will at once; the same request later works."""

    code = "busy"
