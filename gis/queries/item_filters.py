"""What an OGC API items request may ask for, parsed and turned into SQL with bound parameters.

bbox (CRS84 or, with ``bbox-crs``, CGCS2000 / WGS 84 in their latitude-first axis order),
datetime (RFC 3339 instants and intervals, open ends as ``..``, on the last observation time)
and CQL2 text filters. A CQL2 filter is parsed by the ``cql2`` library; only comparisons of a
queryable (an allow-list of columns) with a literal, ``IS NULL``, ``IN`` and AND / OR / NOT
become SQL, every literal a bound parameter. Nothing here knows about HTTP.
"""

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import cql2

from gis.crs import CRS84_URI
from gis.errors import InvalidParameter

EPSG_4326_URI = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG_4490_URI = "http://www.opengis.net/def/crs/EPSG/0/4490"
# The CRSs features and bboxes may be in. All are stored unchanged (CGCS2000 equals WGS 84
# within centimetres, gis/crs.py); the EPSG ones list latitude first, as EPSG defines them.
SUPPORTED_CRS = (CRS84_URI, EPSG_4490_URI, EPSG_4326_URI)
LAT_LON_CRS = frozenset({EPSG_4326_URI, EPSG_4490_URI})
CHINA = dt.timezone(dt.timedelta(hours=8))


def _bad(field_name: str, zh: str, en: str) -> InvalidParameter:
    return InvalidParameter(zh, en, field=field_name)


def parse_crs(value: str, field_name: str) -> str:
    """One of SUPPORTED_CRS, given as its URI (``[EPSG:4490]`` safe-CURIEs accepted too)."""
    shorthand = {
        "[ogc:crs84]": CRS84_URI,
        "[epsg:4490]": EPSG_4490_URI,
        "[epsg:4326]": EPSG_4326_URI,
    }
    uri = shorthand.get(value.strip().lower(), value.strip())
    if uri not in SUPPORTED_CRS:
        raise _bad(
            field_name,
            f"{field_name} 不支持 {value[:100]!r}，可选：{'、'.join(SUPPORTED_CRS)}",
            f"{field_name} {value[:100]!r} is not supported; use one of "
            f"{', '.join(SUPPORTED_CRS)}.",
        )
    return uri


_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def parse_bbox(value: str, crs: str = CRS84_URI) -> tuple[float, float, float, float]:
    """``minx,miny,maxx,maxy`` (or with min/max heights, ignored) in ``crs``; returned as
    (min lon, min lat, max lon, max lat) in CRS84."""
    parts = value.split(",")
    if len(parts) not in (4, 6) or not all(_NUMBER.fullmatch(p.strip()) for p in parts):
        raise _bad(
            "bbox",
            f"bbox 应为 4 个（或含高程的 6 个）数字，以逗号分隔，如 114.0,35.3,114.2,35.5；"
            f"收到 {value[:100]!r}",
            "bbox must be 4 numbers (or 6 with heights) separated by commas, e.g. "
            f"114.0,35.3,114.2,35.5; got {value[:100]!r}.",
        )
    numbers = [float(p) for p in parts]
    if not all(math.isfinite(n) for n in numbers):
        raise _bad("bbox", "bbox 的数字过大", "bbox numbers are out of range.")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if crs in LAT_LON_CRS:
        numbers = [numbers[1], numbers[0], numbers[3], numbers[2]]
    west, south, east, north = numbers
    if not (
        -180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90
    ):
        raise _bad(
            "bbox",
            "bbox 超出范围：经度应在 -180 到 180 之间，纬度在 -90 到 90 之间"
            + ("（此坐标系纬度在前）" if crs in LAT_LON_CRS else ""),
            "bbox is out of range: longitudes from -180 to 180, latitudes from -90 to 90"
            + (" (this CRS lists latitude first)." if crs in LAT_LON_CRS else "."),
        )
    if west > east or south > north:
        raise _bad(
            "bbox",
            "bbox 的最小值应不大于最大值（先西南角，后东北角）",
            "bbox minimums must not exceed its maximums (south-west corner first).",
        )
    return west, south, east, north


@dataclass(frozen=True)
class TimeRange:
    """Observation times from ``start`` to ``end`` (None: open); ``end_exclusive`` when the
    end is the start of the day after a date. ``start == end``, inclusive: an instant."""

    start: dt.datetime | None
    end: dt.datetime | None
    end_exclusive: bool = False


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _moment(text: str, *, end: bool) -> tuple[dt.datetime, bool]:
    """An RFC 3339 date-time, or a date taken as its whole day in China time (an end date
    runs to the start of the next day, exclusive)."""
    try:
        if _DATE.fullmatch(text):
            day = dt.date.fromisoformat(text)
            if end:
                return dt.datetime.combine(day, dt.time(), CHINA) + dt.timedelta(days=1), True
            return dt.datetime.combine(day, dt.time(), CHINA), False
        if _DATETIME.fullmatch(text):
            fraction = re.search(r"\.([0-9]+)", text)
            if fraction:  # Python keeps microseconds: cut the digits beyond six
                text = text.replace(fraction.group(0), "." + fraction.group(1)[:6].ljust(6, "0"))
            return dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00")), False
    except (ValueError, OverflowError):
        pass
    raise ValueError(text)


def parse_datetime(value: str) -> TimeRange:
    """``datetime``: an instant or an interval ``start/end`` with ``..`` for an open end."""
    try:
        if "/" not in value:
            moment, _ = _moment(value, end=False)
            if _DATE.fullmatch(value):
                end, _ = _moment(value, end=True)
                return TimeRange(moment, end, end_exclusive=True)
            return TimeRange(moment, moment)
        first, _, second = value.partition("/")
        start = None if first in ("..", "") else _moment(first, end=False)[0]
        end, exclusive = (None, False) if second in ("..", "") else _moment(second, end=True)
    except ValueError:
        raise _bad(
            "datetime",
            "datetime 应为 RFC 3339 时间或区间，如 2022-05-31T10:00:00+08:00、2022-05-31、"
            f"2021-10-01/2022-05-31 或 2022-01-01/..；收到 {value[:100]!r}",
            "datetime must be an RFC 3339 instant or interval, e.g. 2022-05-31T10:00:00+08:00, "
            f"2022-05-31, 2021-10-01/2022-05-31 or 2022-01-01/..; got {value[:100]!r}.",
        ) from None
    if start is None and end is None:
        raise _bad("datetime", "datetime 区间两端不能都不限", "datetime: both ends are open.")
    if start is not None and end is not None and start > end:
        raise _bad("datetime", "datetime 区间起点晚于终点", "datetime: the start is after the end.")
    return TimeRange(start, end, exclusive)


def time_clauses(observed: TimeRange, column: str, params: dict[str, Any]) -> list[str]:
    """SQL conditions on ``column`` (a constant) for ``observed``; adds their parameters."""
    clauses = []
    if observed.start is not None:
        params["t_start"] = observed.start
        clauses.append(f"{column} >= :t_start")
    if observed.end is not None:
        params["t_end"] = observed.end
        clauses.append(f"{column} {'<' if observed.end_exclusive else '<='} :t_end")
    return clauses


# --- queryables and CQL2 ---------------------------------------------------------------------


class Queryable(NamedTuple):
    column: str  # SQL on the table aliased ``a``: a constant, never from a request
    type: str  # JSON Schema type, or "timestamp"
    zh: str
    en: str


_CASTS = {
    "string": "text",
    "integer": "numeric",
    "number": "numeric",
    "boolean": "boolean",
    "timestamp": "timestamptz",
}
_COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
FILTER_MAX_LENGTH = 2000
FILTER_MAX_NODES = 100


@dataclass
class _Compiler:
    queryables: dict[str, Queryable]
    params: dict[str, Any]
    nodes: int = 0
    used: list[str] = field(default_factory=list)

    def bad(self, zh: str, en: str) -> InvalidParameter:
        return _bad("filter", f"filter 无法使用：{zh}", f"filter cannot be used: {en}")

    def node(self, expr: Any) -> str:
        self.nodes += 1
        if self.nodes > FILTER_MAX_NODES:
            raise self.bad("条件过多", f"more than {FILTER_MAX_NODES} terms.")
        if isinstance(expr, bool):  # a bare TRUE / FALSE
            return "TRUE" if expr else "FALSE"
        if not isinstance(expr, dict) or "op" not in expr:
            raise self.bad("应为条件表达式", "expected a condition.")
        op, args = str(expr["op"]).lower(), expr.get("args", [])
        if op in ("and", "or") and len(args) >= 2:
            return "(" + f" {op.upper()} ".join(self.node(a) for a in args) + ")"
        if op == "not" and len(args) == 1:
            return f"(NOT {self.node(args[0])})"
        if op == "isnull" and len(args) == 1:
            return f"({self.queryable(args[0]).column} IS NULL)"
        if op in _COMPARISONS and len(args) == 2:
            left, right, sql_op = args[0], args[1], _COMPARISONS[op]
            if not _is_property(left) and _is_property(right):  # 'x' = stage
                left, right = right, left
                sql_op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(sql_op, sql_op)
            q = self.queryable(left)
            return f"({q.column} {sql_op} {self.literal(right, q)})"
        if op == "in" and len(args) == 2 and isinstance(args[1], list) and args[1]:
            q = self.queryable(args[0])
            return f"({q.column} IN ({', '.join(self.literal(v, q) for v in args[1])}))"
        raise self.bad(
            f"不支持运算 {op}（支持 =、<>、<、<=、>、>=、IN、IS NULL、AND、OR、NOT）",
            f"operator {op!r} is not supported (use =, <>, <, <=, >, >=, IN, IS NULL, AND, OR, "
            "NOT).",
        )

    def queryable(self, expr: Any) -> Queryable:
        if not _is_property(expr):
            raise self.bad(
                "比较的一边应为可查询字段", "one side of a comparison must be a queryable."
            )
        name = expr["property"]
        if name not in self.queryables:
            raise self.bad(
                f"字段 {name!r} 不可查询，可用：{', '.join(self.queryables)}",
                f"{name!r} is not a queryable; use one of {', '.join(self.queryables)} "
                "(see /queryables).",
            )
        return self.queryables[name]

    def literal(self, value: Any, q: Queryable) -> str:
        if isinstance(value, dict) and ("timestamp" in value or "date" in value):
            text = value.get("timestamp") or value.get("date")
            try:
                value = _moment(str(text), end=False)[0]
            except ValueError:
                raise self.bad(f"时间 {text!r} 无效", f"time {text!r} is not valid.") from None
            kind = "timestamp"
        elif isinstance(value, bool):
            kind = "boolean"
        elif isinstance(value, int | float):
            if not math.isfinite(value):
                raise self.bad("数字超出范围", "a number is out of range.")
            kind = "number"
        elif isinstance(value, str):
            kind = "string"
        else:
            raise self.bad("比较的另一边应为值", "the other side of a comparison must be a value.")
        expected = "number" if q.type in ("integer", "number") else q.type
        if kind != expected:
            raise self.bad(
                f"字段 {q.en} 应与 {expected} 类型的值比较", f"compare {q.en} with a {expected}."
            )
        name = f"f{len(self.params)}"
        self.params[name] = value
        return f"CAST(:{name} AS {_CASTS[q.type]})"


def _is_property(expr: Any) -> bool:
    return (
        isinstance(expr, dict) and set(expr) == {"property"} and isinstance(expr["property"], str)
    )


def cql2_clause(text: str, queryables: dict[str, Queryable], params: dict[str, Any]) -> str:
    """A CQL2 text filter as one SQL condition on queryables; its literals are added to
    ``params`` (names ``f0``, ``f1`` ...). Raises InvalidParameter with the parser's reason."""
    if len(text) > FILTER_MAX_LENGTH or "\x00" in text:
        raise _bad(
            "filter",
            f"filter 过长（最多 {FILTER_MAX_LENGTH} 个字符）",
            f"filter is too long (at most {FILTER_MAX_LENGTH} characters).",
        )
    try:
        tree = cql2.parse_text(text).to_json()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise _bad(
            "filter",
            "filter 不是有效的 CQL2 文本（如 stage='started' AND county_adcode='410781'）："
            f"{reason}",
            f"filter is not valid CQL2 text (e.g. stage='started' AND county_adcode='410781'): "
            f"{reason}",
        ) from None
    return _Compiler(queryables, params).node(tree)
