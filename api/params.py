"""Query and path parameters shared by the routes: days, counties, pages, ids; strict parsing of
numbers (ASCII digits with bounds) and of the query string (no unknown or repeated names)."""

import datetime as dt
import re
from typing import Annotated

from fastapi import Depends, Query, Request

from gis.errors import InvalidParameter, NotFound
from gis.progress import china_today


def _day(
    as_of: Annotated[
        dt.date | None, Query(description="截至日期 YYYY-MM-DD (default: today, China time)")
    ] = None,
) -> dt.date:
    return as_of or china_today()


Day = Annotated[dt.date, Depends(_day)]  # the ``as_of`` query parameter, today when absent
County = Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="县区代码 adcode")]
Layer = Annotated[str | None, Query(pattern="^(houses|water_works|roads)$")]
Limit = Annotated[int, Query(ge=1, le=5000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]

_DIGITS = re.compile(r"[0-9]{1,19}")
ID_MAX = 2**63 - 1  # bigint


def ascii_int(value: str, *, field: str, low: int, high: int) -> int:
    """A whole number written in ASCII digits (not '²' or '١'), between ``low`` and ``high``;
    anything else is an InvalidParameter naming ``field``."""
    if _DIGITS.fullmatch(value) is None or not low <= int(value) <= high:
        raise InvalidParameter(
            f"参数 {field} 应为 {low} 到 {high} 之间的整数（阿拉伯数字），收到 {value[:40]!r}",
            f"{field} must be a whole number from {low} to {high} in ASCII digits; "
            f"got {value[:40]!r}.",
            field=field,
        )
    return int(value)


def parse_id(value: str, *, field: str, what_zh: str = "项目") -> int:
    """A numeric id from a path: anything that is not 1..2^63-1 in ASCII digits names nothing,
    so it is a 404 (the same for /assets/abc and /ogc/.../items/abc)."""
    if _DIGITS.fullmatch(value) is None or not 1 <= int(value) <= ID_MAX:
        raise NotFound(
            f"{what_zh}编号 {value[:40]!r} 不存在：编号应为正整数（阿拉伯数字）",
            f"No such id {value[:40]!r}: ids are positive whole numbers (ASCII digits).",
            field=field,
        )
    return int(value)


def strict_query(request: Request, allowed: tuple[str, ...]) -> None:
    """Refuse query parameters that are not in ``allowed`` or that are given more than once
    (which one would count is a guess), naming them and the allowed ones."""
    keys = [key for key, _ in request.query_params.multi_items()]
    unknown = sorted(set(keys) - set(allowed))
    if unknown:
        names = ", ".join(unknown)
        raise InvalidParameter(
            f"不认识的参数：{names}。可用的参数：{', '.join(allowed)}",
            f"Unknown query parameter(s): {names}. Allowed: {', '.join(allowed)}.",
            field=unknown[0],
        )
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise InvalidParameter(
            f"参数 {repeated[0]} 只能给一次",
            f"Query parameter {repeated[0]} may be given only once.",
            field=repeated[0],
        )
