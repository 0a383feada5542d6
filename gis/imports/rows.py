"""A file's columns as the tracker's fields: values read, checked and derived, a column at a
time. Problems name the clerk's row, header and value; derivations are counted for the summary."""

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gis.assets import CODE_PATTERN, check_stage
from gis.errors import RebuildError
from gis.imports import values
from gis.imports.columns import KEPT_AS_EXTRA, MONEY, Column, Mapping
from gis.imports.problems import Problems
from gis.vocab import (
    DAMAGE_KINDS,
    GOVERNMENT_BUILT,
    KINDS,
    LAYERS,
    ROUTE_LETTER_KINDS,
    STAGE_FULL_PERCENT,
    STAGE_ZERO_PERCENT,
    STAGES,
)

TEXT_FIELDS = ("code", "name", "town", "village", "householder_name", "householder_phone", "reason")
_MONEY_LIMIT = 1e12  # numeric(14, 2)


@dataclass
class Parsed:
    """The tracker's fields per row (text, '' where the file says nothing), and what was
    derived: field -> number of rows."""

    values: dict[str, np.ndarray]
    derived: dict[str, int] = field(default_factory=dict)


def parse(
    frame: pd.DataFrame,
    columns: list[Column],
    *,
    layer: str,
    mapping: Mapping,
    counties: list[tuple[str, str, str]],
    problems: Problems,
) -> Parsed:
    n = len(frame)
    by_field = {c.field: c for c in columns if c.field not in ("extra", "ignore")}
    out: dict[str, np.ndarray] = {}

    def raw(name: str) -> pd.Series:
        column = frame[by_field[name].header].astype(str).str.strip()
        return values.remap(column, mapping.values.get(name, {}))

    def report(bad: np.ndarray, name: str, zh: str, en: str) -> None:
        if not bad.any():  # the column's values are copied out only for a problem to name
            return
        header = by_field[name].header
        problems.add(bad, field=name, column=header, values=frame[header].to_numpy(), zh=zh, en=en)

    for name in TEXT_FIELDS:
        out[name] = values.texts(raw(name)) if name in by_field else np.full(n, "", dtype=object)
    if "code" in by_field:
        code = pd.Series(out["code"])
        report(
            ((code != "") & ~code.str.match(CODE_PATTERN.pattern)).to_numpy(),
            "code",
            "代码“{value}”格式不对：3–40 位字母、数字、“-”“_”“.”，如 FW-410781-00012；"
            "或留空由系统生成",
            "Code '{value}' must be 3-40 letters, digits, '-', '_' or '.', e.g. "
            "FW-410781-00012; or leave it empty to have one made.",
        )
        repeated = code.duplicated(keep="first").to_numpy() & (out["code"] != "")
        firsts = dict(zip(out["code"][::-1], problems.rows[::-1], strict=True))
        for i in np.flatnonzero(repeated):
            problems.at(
                int(i),
                field="code",
                column=by_field["code"].header,
                value=out["code"][i],
                zh=f"代码 {{value}} 与第 {firsts[out['code'][i]]} 行重复，请改为不同的代码",
                en=f"Code {{value}} repeats row {firsts[out['code'][i]]}; give each row its own.",
            )

    kinds = {k.key: k.zh for k in KINDS[layer]}
    choices_zh = "、".join(f"{zh}（{key}）" for key, zh in kinds.items())
    out["kind"] = np.full(n, "", dtype=object)
    if "kind" in by_field:
        out["kind"], bad = values.choices(raw("kind"), values.kind_table(layer))
        report(
            bad,
            "kind",
            f"类别“{{value}}”不属于{LAYERS[layer].zh}，可填：{choices_zh}",
            f"Kind '{{value}}' is not a kind of {layer}; use one of {', '.join(kinds)} "
            "or their Chinese names.",
        )
    _derive_kind(out, raw, by_field, layer, n, derived := {})

    out["county_adcode"] = np.full(n, "", dtype=object)
    if "county_adcode" in by_field:
        out["county_adcode"], bad = values.choices(
            raw("county_adcode"), values.county_table(counties)
        )
        names = "、".join(f"{zh}（{adcode}）" for adcode, zh, _ in counties)
        report(
            bad,
            "county_adcode",
            f"县区“{{value}}”不在新乡市，可填县区名称或代码：{names}",
            "County '{value}' is not one of Xinxiang's; use a name or adcode: "
            + ", ".join(f"{en} ({adcode})" for adcode, _, en in counties),
        )

    out["batch"] = np.full(n, "", dtype=object)
    if "batch" in by_field:
        out["batch"], bad = values.choices(raw("batch"), values.batch_table())
        report(
            bad,
            "batch",
            "批次“{value}”应为 1（第一批）或 2（第二批）",
            "Batch '{value}' must be 1 (first) or 2 (second).",
        )
    if layer != "roads":
        out["batch"] = np.full(n, "", dtype=object)  # only roads have one; others ignore it

    for name in ("households", *MONEY, "percent"):
        out[name] = np.full(n, "", dtype=object)
        if name not in by_field:
            continue
        number, bad = values.numbers(raw(name))
        report(
            bad,
            name,
            "“{value}”不是数字，请只填数字（可带千分位逗号）",
            "'{value}' is not a number; write digits only (thousands separators are fine).",
        )
        if name in MONEY:
            number = number * by_field[name].scale
            bad = ~bad & ((number < 0) | (number >= _MONEY_LIMIT))
            report(
                bad, name, "金额“{value}”应为不小于 0 的万元数", "'{value}' must be >= 0 (万元)."
            )
            out[name] = _text(np.round(number, 2), bad)
        else:
            limit = 100 if name == "percent" else 32767
            bad = (
                ~bad
                & ~np.isnan(number)
                & (
                    (number != np.round(number))
                    | (number < 0)
                    | (number > limit)
                    | ((name == "households") & (number == 0))
                )
            )
            span_zh, span_en = (
                ("0 到 100 ", " from 0 to 100") if name == "percent" else ("正", " above 0")
            )
            report(
                bad,
                name,
                f"“{{value}}”应为{span_zh}的整数",
                f"'{{value}}' must be a whole number{span_en}.",
            )
            out[name] = _text(number, bad, whole=True)

    for name in ("poverty_alleviated_area", "worst_hit_area"):
        out[name] = np.full(n, "", dtype=object)
        if name in by_field:
            parsed, bad = values.flags(raw(name))
            report(bad, name, "“{value}”应为 是 或 否", "'{value}' must be 是 (yes) or 否 (no).")
            out[name] = np.where(parsed == True, "true", np.where(parsed == False, "false", ""))  # noqa: E712

    out["stage"] = np.full(n, "", dtype=object)
    if "stage" in by_field:
        out["stage"], bad = values.choices(raw("stage"), values.stage_table())
        stages = "、".join(s.zh for s in STAGES)
        report(
            bad,
            "stage",
            f"进度“{{value}}”不认识，可填：{stages}",
            "Unknown stage '{value}'; use one of " + ", ".join(s.key for s in STAGES),
        )
    _stage_and_percent(out, frame, by_field, problems)
    return Parsed(out, derived)


def _text(number: np.ndarray, bad: np.ndarray, *, whole: bool = False) -> np.ndarray:
    ok = ~np.isnan(number) & ~bad
    out = np.full(len(number), "", dtype=object)
    out[ok] = values.formatted(number[ok].astype(np.int64) if whole else number[ok])
    return out


def _derive_kind(out, raw, by_field, layer: str, n: int, derived: dict[str, int]) -> None:
    """A house's kind from 损毁等级 / 重建方式; a road's from its route number's letter."""
    empty = out["kind"] == ""
    if not empty.any():
        return
    guess = np.full(n, "", dtype=object)
    if layer == "houses" and ("damage" in by_field or "rebuild_method" in by_field):
        damage = values.texts(raw("damage")) if "damage" in by_field else np.full(n, "", object)
        method = (
            values.texts(raw("rebuild_method"))
            if "rebuild_method" in by_field
            else np.full(n, "", object)
        )
        table = values.kind_table(layer)
        for i in np.flatnonzero(empty):
            by_damage = DAMAGE_KINDS.get(values.norm(damage[i]), "")
            by_method = table.get(values.norm(method[i]), "") if method[i] else ""
            government = any(word in method[i] for word in GOVERNMENT_BUILT)
            if by_damage == "self_rebuild" and government:
                guess[i] = "resettlement_site"
            else:
                guess[i] = by_damage or by_method
    if layer == "roads" and "route_number" in by_field:
        letters = pd.Series(values.texts(raw("route_number"))).str[:1].str.upper()
        guess = np.where(empty, letters.map(ROUTE_LETTER_KINDS).fillna("").to_numpy(), guess)
    found = empty & (guess != "")
    out["kind"] = np.where(found, guess, out["kind"])
    if found.any():
        derived["kind"] = int(found.sum())


def _stage_and_percent(out, frame, by_field, problems: Problems) -> None:
    """A stage without a percent takes the one it implies (0 before works, 100 once done);
    each distinct pair is checked by the asset rule (gis.assets.check_stage)."""
    stage, percent = out["stage"], out["percent"]
    implied = np.where(
        np.isin(stage, STAGE_FULL_PERCENT),
        "100",
        np.where(np.isin(stage, STAGE_ZERO_PERCENT) | (stage == "started"), "0", ""),
    )
    percent = np.where((percent == "") & (stage != "") & (stage != "?"), implied, percent)
    out["percent"] = percent
    pairs = pd.DataFrame({"s": stage, "p": percent})
    given = (pairs.s != "") & (pairs.s != "?") & (pairs.p != "")
    for (s, p), group in pairs[given].groupby(["s", "p"]).groups.items():
        try:
            check_stage(s, int(p))
        except RebuildError as exc:
            header = by_field.get("percent", by_field.get("stage")).header
            for i in group:
                problems.at(
                    int(i),
                    field="percent",
                    column=header,
                    value=str(frame[header].iloc[i]),
                    zh=exc.zh,
                    en=exc.en,
                )


def extras(frame: pd.DataFrame, columns: list[Column]) -> tuple[np.ndarray, np.ndarray]:
    """The columns the tracker does not model, as JSON objects per row (empty cells left out):
    those anyone may read, and those only for readers of personal details."""
    kept = [c for c in columns if c.field in ("extra", *KEPT_AS_EXTRA)]
    out = []
    for public in (True, False):
        chosen = [c for c in kept if c.public == public]
        if not chosen:
            out.append(np.full(len(frame), "", dtype=object))
            continue
        cells = frame[[c.header for c in chosen]].astype(str)
        records = [
            json.dumps(
                {k: v for k, v in zip(cells.columns, row, strict=True) if v != ""},
                ensure_ascii=False,
            )
            for row in cells.itertuples(index=False, name=None)
        ]
        out.append(np.array([r if r != "{}" else "" for r in records], dtype=object))
    return out[0], out[1]
