"""Values as counties write them, to the tracker's: Chinese names, synonyms, 是/否, full-width
digits, thousands separators, units. Each parser works on the distinct values of a column (a
million rows hold a few dozen kinds), and returns the parsed column and which rows it refused."""

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

from gis.vocab import KIND_SYNONYMS, KINDS, STAGE_SYNONYMS, STAGES

_YES = ("是", "1", "y", "yes", "true", "t", "√", "✓", "有", "x")
_NO = ("否", "0", "n", "no", "false", "f", "×", "无", "")
_BATCHES = {"1": 1, "2": 2, "一": 1, "二": 2, "第一批": 1, "第二批": 2, "第1批": 1, "第2批": 2}
_DMS = re.compile(r"^(\d+(?:\.\d+)?)[°度](?:(\d+(?:\.\d+)?)['′分])?(?:(\d+(?:\.\d+)?)[\"″秒])?$")


def norm(text: str) -> str:
    """A value as compared: NFKC (full-width to half-width), no spaces, lower case."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def by_distinct(column: pd.Series, parse: Callable[[str], object]) -> pd.Series:
    """``parse`` applied once per distinct value of ``column``."""
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    parsed = np.empty(len(distinct), dtype=object)
    parsed[:] = [parse(v) for v in distinct]
    return pd.Series(parsed[codes], index=column.index)


def formatted(numbers: np.ndarray) -> np.ndarray:
    """Numbers (none NaN) as ``str`` writes them, formatted once per distinct value."""
    distinct, inverse = np.unique(numbers, return_inverse=True)
    return distinct.astype(str).astype(object)[inverse]


def remap(column: pd.Series, table: dict[str, str]) -> pd.Series:
    """A mapping file's value map applied (keys normalised); other values unchanged."""
    if not table:
        return column
    return by_distinct(column, lambda v: table.get(norm(v), v))


def numbers(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numbers (NaN where empty) and the rows that are not numbers. Full-width digits,
    thousands separators, a trailing % and degrees-minutes-seconds are read."""
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    parsed = pd.to_numeric(pd.Series(distinct), errors="coerce").to_numpy(dtype=float)
    values = parsed[codes]
    retry = np.isnan(values) & (column.to_numpy() != "")
    if retry.any():
        again = by_distinct(column[retry], _number).to_numpy(dtype=float, copy=True)
        values[retry] = again
    bad = np.isnan(values) & (column.to_numpy() != "")
    return values, bad


def _number(text: str) -> float:
    clean = unicodedata.normalize("NFKC", text).replace(",", "").replace(" ", "").strip()
    clean = clean.removesuffix("%")
    try:
        return float(clean)
    except ValueError:
        match = _DMS.match(clean)
        if match:
            d, m, s = (float(g) if g else 0.0 for g in match.groups())
            return d + m / 60 + s / 3600
        return float("nan")


def flags(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """是/否 and their spellings: True, False, or None (empty); the rows that are neither."""

    def parse(text: str) -> object:
        key = norm(text)
        return True if key in _YES else False if key in _NO else "?"

    parsed = by_distinct(column, parse).to_numpy(dtype=object, copy=True)
    bad = parsed == "?"
    parsed[column.to_numpy() == ""] = None
    return parsed, bad


def choices(column: pd.Series, table: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Values looked up in ``table`` (normalised keys): the keys found ('' where empty) and
    the rows not found."""
    parsed = by_distinct(column, lambda v: "" if v == "" else table.get(norm(v), "?"))
    out = parsed.to_numpy(dtype=object, copy=True)
    return out, out == "?"


def kind_table(layer: str) -> dict[str, str]:
    table = {norm(k.key): k.key for k in KINDS[layer]}
    table |= {norm(k.zh): k.key for k in KINDS[layer]}
    table |= {norm(k.en): k.key for k in KINDS[layer]}
    return table | {norm(s): key for s, key in KIND_SYNONYMS[layer].items()}


def stage_table() -> dict[str, str]:
    table = {norm(s.key): s.key for s in STAGES} | {norm(s.zh): s.key for s in STAGES}
    table |= {norm(s.zh.split("（")[0]): s.key for s in STAGES}
    return table | {norm(s): key for s, key in STAGE_SYNONYMS.items()}


def batch_table() -> dict[str, str]:
    return {norm(k): str(v) for k, v in _BATCHES.items()}


def county_table(counties: list[tuple[str, str, str]]) -> dict[str, str]:
    """Adcodes, full names (卫辉市), short names (卫辉) and English names -> adcode."""
    table = {}
    for adcode, zh, en in counties:
        table[adcode] = adcode
        table[norm(adcode + "000000")] = adcode  # 12-digit statistical division codes
        table[norm(zh)] = adcode
        table[norm(en)] = adcode
        if len(zh) > 2 and zh[-1] in "市县区":
            table[norm(zh[:-1])] = adcode
    return table


def texts(column: pd.Series) -> np.ndarray:
    """Text as typed, trimmed ('' where empty)."""
    return column.str.strip().to_numpy(dtype=object, copy=True)
