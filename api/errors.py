"""Domain errors -> HTTP responses, in one table.

Every body says what was wrong and how to fix it, in Chinese (``message``) and English.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from gis.errors import (
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    RebuildError,
)

log = logging.getLogger("rebuild.api")

STATUS_CODES: dict[type[RebuildError], int] = {
    NotFound: 404,
    InvalidInput: 422,
    Conflict: 409,
    DatabaseUnavailable: 503,
}


def status_for(exc: RebuildError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 400


def _problem(status: int, body: dict) -> JSONResponse:
    return JSONResponse(status_code=status, content=body)


async def _domain_error(request: Request, exc: RebuildError) -> JSONResponse:
    return _problem(status_for(exc), exc.as_dict())


# Chinese wording for the validation errors people meet most; others fall back to English.
_PROBLEMS_ZH = {
    "missing": "缺少此项，请填写",
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than_equal": "应小于或等于 {le}",
    "greater_than": "应大于 {gt}",
    "less_than": "应小于 {lt}",
    "string_pattern_mismatch": "格式不对，应符合 {pattern}",
    "string_too_long": "过长，最多 {max_length} 个字符",
    "string_too_short": "过短，至少 {min_length} 个字符",
    "literal_error": "取值无效，可选 {expected}",
    "enum": "取值无效，可选 {expected}",
    "uuid_parsing": "应为 UUID",
    "datetime_parsing": "应为日期时间，如 2022-05-31T10:00:00+08:00",
    "date_from_datetime_parsing": "应为日期，如 2022-05-31",
    "json_invalid": "不是有效的 JSON",
}


def _problem_zh(err: dict) -> str:
    template = _PROBLEMS_ZH.get(err.get("type", ""))
    if template is None:
        return err.get("msg", "")
    try:
        return template.format(**err.get("ctx", {}))
    except (KeyError, IndexError):
        return err.get("msg", "")


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        details.append(
            {"field": where, "problem": err.get("msg", ""), "problem_zh": _problem_zh(err)}
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


async def _database_down(request: Request, exc: DBAPIError) -> JSONResponse:
    log.exception("database error on %s", request.url.path)
    unavailable = DatabaseUnavailable(
        "数据库暂时不可用，请稍后重试；如持续出现，请联系管理员检查数据库（rebuild db status）。",
        "The database is unavailable. Retry shortly; if it persists, ask the administrator to "
        "check the database (`rebuild db status`).",
    )
    return _problem(503, unavailable.as_dict())


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
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
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
