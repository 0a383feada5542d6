"""Which column holds what: the headers counties use (data/import_columns.toml), a county's own
mapping file over them, and the value maps.

A header is matched after ``normalise_header``; failing that, without a unit in brackets at
its end (计划投资(万元) is 计划投资 in 万元). Money in 元 or 亿元 is converted to 万元.
"""

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gis.errors import InvalidInput
from gis.imports.read import normalise_header
from gis.settings import PROJECT_ROOT

VOCABULARY = PROJECT_ROOT / "data" / "import_columns.toml"

# The fields that are columns of an asset (its state included); the others below are read to
# derive or place one (coordinates, damage, route number) or go with its first report (reason).
ASSET_FIELDS = (
    "code",
    "kind",
    "county_adcode",
    "name",
    "town",
    "village",
    "batch",
    "households",
    "planned_investment_wan",
    "funds_secured_wan",
    "poverty_alleviated_area",
    "worst_hit_area",
    "householder_name",
    "householder_phone",
    "stage",
    "percent",
)
FIELDS = (
    *ASSET_FIELDS,
    "reason",
    "lon",
    "lat",
    "x",
    "y",
    "wkt",
    "crs",
    "damage",
    "rebuild_method",
    "route_number",
)
KEPT_AS_EXTRA = ("damage", "rebuild_method", "route_number")  # read, and kept under their header
MONEY = ("planned_investment_wan", "funds_secured_wan")
_UNIT = re.compile(r"^(.+?)\(([^()]*)\)$")
_MONEY_UNITS = {"万元": 1.0, "元": 1e-4, "亿元": 1e4, "": 1.0, "万": 1.0}


@dataclass(frozen=True)
class Column:
    """A column of the file: its header, what it holds, and the factor to 万元 for money."""

    header: str
    field: str  # one of FIELDS, "extra" or "ignore"
    scale: float = 1.0
    public: bool = False  # for extras: visible to every reader


@dataclass(frozen=True)
class Mapping:
    headers: dict[str, str]  # normalised header -> field
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> {text: value}
    public: frozenset[str] = frozenset()  # normalised headers of public extras
    read: dict[str, Any] = field(default_factory=dict)  # defaults for the read options

    def knows(self, header: str) -> bool:
        key = normalise_header(header)
        return key in self.headers or _base(key)[0] in self.headers

    def column(self, header: str) -> Column:
        key = normalise_header(header)
        base, unit = (key, "") if key in self.headers else _base(key)
        target = self.headers.get(base, "extra")
        scale = 1.0
        if target in MONEY:
            if unit not in _MONEY_UNITS:
                raise InvalidInput(
                    f"列“{header}”的单位 {unit} 无法换算为万元，请改为 万元 或 元",
                    f"Column {header!r}: unit {unit!r} cannot be converted to 万元 (10,000 "
                    "yuan); use 万元 or 元.",
                    field="columns",
                )
            scale = _MONEY_UNITS[unit]
        return Column(header, target, scale, base in self.public or key in self.public)


def _base(key: str) -> tuple[str, str]:
    match = _UNIT.match(key)
    return (match.group(1), match.group(2)) if match else (key, "")


def load_mapping(extra: Path | None = None) -> Mapping:
    """The built-in vocabulary, with a county's mapping file read over it."""
    base = _parse(VOCABULARY)
    if extra is None:
        return base
    if not extra.exists():
        raise InvalidInput(
            f"映射文件不存在：{extra}", f"No such mapping file: {extra}", field="mapping"
        )
    own = _parse(extra)
    values = {k: {**base.values.get(k, {}), **v} for k, v in own.values.items()}
    return Mapping(
        {**base.headers, **own.headers},
        {**base.values, **values},
        base.public | own.public,
        {**base.read, **own.read},
    )


def _parse(path: Path) -> Mapping:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"映射文件 {path.name} 格式有误：{exc}。请按 TOML 格式填写（见 README“导入”一节）",
            f"The mapping file {path.name} is not valid TOML: {exc}. See README, Import.",
            field="mapping",
        ) from exc
    headers = {}
    for header, target in doc.get("columns", {}).items():
        if target not in (*FIELDS, "extra", "ignore"):
            raise InvalidInput(
                f"映射文件 {path.name}：列“{header}”对应的 {target!r} 不是可用字段。"
                f"可用：{', '.join(FIELDS)}、extra、ignore",
                f"Mapping file {path.name}: column {header!r} maps to {target!r}, which is "
                f"not a field; use one of {', '.join(FIELDS)}, extra or ignore.",
                field="mapping",
            )
        headers[normalise_header(header)] = target
    values = {
        name: {normalise_header(k): str(v) for k, v in table.items()}
        for name, table in doc.get("values", {}).items()
    }
    public = frozenset(normalise_header(h) for h in doc.get("extra", {}).get("public", []))
    return Mapping(headers, values, public, dict(doc.get("read", {})))
