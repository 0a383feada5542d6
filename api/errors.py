"""Domain errors -> HTTP responses, in one table.

Every body says what was wrong and how to fix it, in Chinese (``message``) and English.
"""

import logging
from urllib.parse import urlencode

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis.errors import (
    Busy,
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    InvalidInput,
    InvalidParameter,
    NotAuthenticated,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    RebuildError,
    TooLarge,
    TooManyRequests,
    colliding_change,
    rolled_back,
)
from gis.health import schema_not_ready

log = logging.getLogger("rebuild.api")

STATUS_CODES: dict[type[RebuildError], int] = {
    InvalidParameter: 400,
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    TooLarge: 413,
    InvalidInput: 422,
    PreconditionRequired: 428,
    TooManyRequests: 429,
    DatabaseUnavailable: 503,
    Busy: 503,
}

# When to try again (seconds): a login throttle lasts 15 minutes; a layer download another
# holds takes a minute or so.
RETRY_AFTER: dict[type[RebuildError], str] = {TooManyRequests: "900", Busy: "60"}

# The framework's own refusals (no such path, wrong method, ...) in the same shape.
_HTTP_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "请求无法解析，请检查网址与参数", "The request could not be parsed."),
    404: ("not_found", "地址不存在，请检查网址（接口列表见 /docs）", "No such path; see /docs."),
    405: ("method_not_allowed", "此地址不支持该请求方法", "This path does not take that method."),
    406: ("not_acceptable", "无法提供所要求的格式", "Cannot produce the requested format."),
    413: ("too_large", "请求内容过大", "The request body is too large."),
    415: ("unsupported_media_type", "不支持的内容类型", "Unsupported content type."),
}


def status_for(exc: RebuildError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 400


def _problem(status: int, body: dict) -> JSONResponse:
    return JSONResponse(status_code=status, content=body)


def _wants_login_page(request: Request) -> bool:
    """A person following a link in a browser, not a script: send them to the login page."""
    return (
        request.method == "GET"
        and request.headers.get("sec-fetch-mode") == "navigate"
        and "text/html" in request.headers.get("accept", "")
    )


async def _domain_error(request: Request, exc: RebuildError) -> Response:
    status = status_for(exc)
    if status == 401:
        if _wants_login_page(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
        challenge = 'Bearer realm="rebuild"'
        if "sec-fetch-mode" not in request.headers:  # not a browser page: GIS clients may use Basic
            challenge += ', Basic realm="rebuild", charset="UTF-8"'
        return JSONResponse(exc.as_dict(), 401, headers={"WWW-Authenticate": challenge})
    retry = next((RETRY_AFTER[c] for c in type(exc).__mro__ if c in RETRY_AFTER), None)
    headers = {"Retry-After": retry} if retry else None
    return JSONResponse(exc.as_dict(), status, headers=headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    code, zh, en = _HTTP_ERRORS.get(
        exc.status_code, ("http_error", f"请求无法处理（{exc.status_code}）", str(exc.detail))
    )
    body = {"error": code, "message": zh, "message_en": en, "field": None}
    return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))


# Chinese wording for the validation errors people meet most; others fall back to English.
_PROBLEMS_ZH = {
    "missing": "缺少此项，请填写",
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than_equal": "应小于或等于 {le}",
    "greater_than": "应大于 {gt}",
    "less_than": "应小于 {lt}",
    "string_pattern_mismatch": "格式不对（取值与格式见 /docs 中此参数的说明）",
    "string_too_long": "过长，最多 {max_length} 个字符",
    "string_too_short": "过短，至少 {min_length} 个字符",
    "literal_error": "取值无效，可选 {expected}",
    "enum": "取值无效，可选 {expected}",
    "uuid_parsing": "应为 UUID",
    "datetime_parsing": "应为日期时间，如 2022-05-31T10:00:00+08:00",
    "date_from_datetime_parsing": "应为日期，如 2022-05-31",
    "json_invalid": "不是有效的 JSON",
    "timezone_aware": "须带时区，如 2022-05-31T10:00:00+08:00",
    "extra_forbidden": "不认识的字段，请删除（此项由系统填写，客户端不能设置）",
    "bool_parsing": "应为 true 或 false",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_attributes_type": "应为对象",
    "too_long": "项目过多，最多 {max_length} 项",
    "string_type": "应为文字",
    "int_type": "应为整数",
    "float_type": "应为数字",
}


def _problem_zh(err: dict) -> str:
    template = _PROBLEMS_ZH.get(err.get("type", ""))
    if template is None:
        return err.get("msg", "")
    try:
        return template.format(**err.get("ctx", {}))
    except (KeyError, IndexError):
        return err.get("msg", "")


def _problem_en(err: dict) -> str:
    # Pydantic quotes the regular expression of a pattern; a clerk cannot act on that.
    if err.get("type") == "string_pattern_mismatch":
        return "has the wrong format (see this parameter in /docs)"
    return err.get("msg", "")


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        details.append(
            {"field": where, "problem": _problem_en(err), "problem_zh": _problem_zh(err)}
        )
    listing_zh = "；".join(f"{d['field']}：{d['problem_zh']}" for d in details)
    listing = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
    return _problem(
        422,
        {
            "error": "invalid_request",
            "message": f"请求参数有误，请按提示修改后重试：{listing_zh}",
            "message_en": f"The request has invalid parameters; fix them and retry: {listing}",
            "field": details[0]["field"] if details else None,
            "details": details,
        },
    )


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.exception("database error on %s", request.url.path)
    unavailable = DatabaseUnavailable(
        "数据库暂时不可用，请稍后重试；如持续出现，请联系管理员检查数据库（rebuild db status）。",
        "The database is unavailable. Retry shortly; if it persists, ask the administrator to "
        "check the database (`rebuild db status`).",
    )
    return _problem(503, unavailable.as_dict())


# SQLSTATEs of a schema that is missing or older than the code (undefined table, column,
# function, object): the database is there but not migrated to this code's revision.
_SCHEMA_STATES = {"42P01", "42703", "42883", "42704"}


async def _database_error(request: Request, exc: Exception) -> Response:
    """A database error, from SQLAlchemy or from psycopg itself (gis.db.driver_rows): a missing
    schema and a lost connection are 503s; anything else a 500 whose body says nothing of the
    database (its text may quote rows: the engine hides parameters, but not a message)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if getattr(orig, "sqlstate", None) in _SCHEMA_STATES:
        log.error("schema not ready on %s: %s", request.url.path, type(orig).__name__)
        return _problem(503, schema_not_ready().as_dict())
    if rolled_back(orig):
        log.warning("transaction rolled back on %s: %s", request.url.path, type(orig).__name__)
        return _problem(409, colliding_change().as_dict())
    if isinstance(exc, OperationalError | psycopg.OperationalError):
        return await _database_down(request, exc)
    # The class and SQLSTATE only: the message may quote a row ("Failing row contains ...").
    state = getattr(orig, "sqlstate", None)
    log.error("database error %s (SQLSTATE %s) on %s", type(orig).__name__, state, request.url.path)
    return _internal_error()


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    return _internal_error()


def _internal_error() -> JSONResponse:
    return _problem(
        500,
        {
            "error": "internal_error",
            "message": "服务器内部错误，未保存任何更改。请稍后重试，并将时间告知管理员。",
            "message_en": "Internal error; nothing was saved. Retry later and tell the "
            "administrator the time it happened.",
            "field": None,
        },
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RebuildError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(psycopg.Error, _database_error)
    app.add_exception_handler(Exception, _unexpected)
