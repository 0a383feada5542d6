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
