"""Importing a county's inventory as it was sent: GeoPackage, Shapefile, GeoJSON, KML, CSV or
Excel; Chinese headers and values; WGS84, CGCS2000, GCJ-02, BD-09 or Gauss-Kruger coordinates.

Every row is read and checked first (gis/imports/rows.py, geometry.py, places.py), the checks
that need the database run as joins against a staging table (load.py), and only then is anything
written: by default nothing at all when a row is bad, each bad row named with the clerk's row
number, column, value and how to fix it. In update mode rows are matched to assets by code; their
progress columns become reports decided by the field-report rules (gis/reports.py).
"""

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import psycopg
import shapely
from sqlalchemy.orm import Session

from gis import access
from gis.errors import DuplicateCode, InvalidInput
from gis.imports import geometry as geometry_
from gis.imports import load, places, rows
from gis.imports.columns import Column, load_mapping
from gis.imports.events import apply_progress
from gis.imports.problems import MAX_LISTED, Problems, RowProblem
from gis.imports.read import VECTOR_SUFFIXES, Sheet, read_sheet
from gis.vocab import KINDS, LAYERS

__all__ = ["ImportOptions", "ImportRejected", "ImportSummary", "RowProblem", "import_inventory"]

Mode = Literal["create", "update"]


@dataclass(frozen=True)
class ImportOptions:
    mode: Mode = "create"
    crs: str | None = None
    encoding: str | None = None
    header_row: int | None = None
    sheet: str | None = None
    mapping: Path | None = None
    skip_invalid: bool = False
    dry_run: bool = False
    observed_at: dt.datetime | None = None  # of the progress columns; default: now


@dataclass
class ImportSummary:
    file: str
    layer: str
    mode: Mode
    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    progress: dict[str, int] = field(default_factory=dict)  # report outcome -> count
    derived: dict[str, int] = field(default_factory=dict)  # field -> rows
    extra_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    generated_codes: dict[int, str] = field(default_factory=dict)  # clerk's row -> code
    dry_run: bool = False
    seconds: float = 0.0
    sheet: Sheet | None = None  # for the report workbook

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "layer": self.layer,
            "mode": self.mode,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "progress": self.progress,
            "derived": self.derived,
            "extra_columns": self.extra_columns,
            "ignored_columns": self.ignored_columns,
            "notes": [{"message": zh, "message_en": en} for zh, en in self.notes],
            "problems": [p.as_dict() for p in self.problems],
            "generated_codes": {str(k): v for k, v in self.generated_codes.items()},
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
        }

    def text(self) -> str:
        """The summary for the command line, Chinese then English."""
        verb = ("将", "would be ") if self.dry_run else ("已", "")
        zh = [
            f"{self.file}：{self.rows:,} 行；{verb[0]}新建 {self.created:,}，{verb[0]}更新 "
            f"{self.updated:,}，无变化 {self.unchanged:,}，跳过 {self.skipped:,}"
        ]
        en = [
            f"{self.file}: {self.rows:,} rows; {verb[1]}created {self.created:,}, "
            f"{verb[1]}updated {self.updated:,}, unchanged {self.unchanged:,}, skipped "
            f"{self.skipped:,}"
        ]
        if self.progress:
            zh.append("进度上报：" + "，".join(f"{k} {v}" for k, v in self.progress.items()))
            en.append("progress: " + ", ".join(f"{k} {v}" for k, v in self.progress.items()))
        for name, count in self.derived.items():
            zh.append(f"推导 {name}：{count:,} 行")
            en.append(f"derived {name} for {count:,} rows")
        if self.generated_codes:
            zh.append(f"生成代码 {len(self.generated_codes):,} 个（见 --report 报告）")
            en.append(f"made {len(self.generated_codes):,} codes (listed in the --report file)")
        if self.extra_columns:
            zh.append("保留为附加属性的列：" + "、".join(self.extra_columns))
            en.append("kept as extra attributes: " + ", ".join(self.extra_columns))
        if self.ignored_columns:
            zh.append("未导入的列（由系统计算）：" + "、".join(self.ignored_columns))
            en.append("not imported (computed by the tracker): " + ", ".join(self.ignored_columns))
        zh += [z for z, _ in self.notes]
        en += [e for _, e in self.notes]
        for p in self.problems[:MAX_LISTED]:
            zh.append(f"第 {p.row} 行 {p.column or p.field or ''}：{p.zh}")
            en.append(f"row {p.row} {p.column or p.field or ''}: {p.en}")
        if len(self.problems) > MAX_LISTED:
            zh.append(f"……另有 {len(self.problems) - MAX_LISTED} 处问题")
            en.append(f"... and {len(self.problems) - MAX_LISTED} more")
        return "\n".join(zh + en)


class ImportRejected(InvalidInput):
    """Some rows are bad; nothing was stored."""

    code = "import_rejected"

    def __init__(self, summary: ImportSummary) -> None:
        problems = summary.problems
        listed = problems[:MAX_LISTED]
        more = len(problems) - len(listed)
        super().__init__(
            f"{summary.rows} 行中有 {len(problems)} 处问题，未导入任何数据。请修改后重新导入"
            "（或加 --skip-invalid 只导入无误的行）：\n"
            + "\n".join(f"第 {p.row} 行 {p.column or p.field or ''}：{p.zh}" for p in listed)
            + (f"\n……另有 {more} 处问题" if more else ""),
            f"{len(problems)} problems in {summary.rows} rows; nothing was imported. Fix them and "
            "import again (or --skip-invalid to import the good rows):\n"
            + "\n".join(f"row {p.row} {p.column or p.field or ''}: {p.en}" for p in listed)
            + (f"\n... and {more} more" if more else ""),
            field="rows",
        )
        self.problems = problems
        self.summary = summary
        self.extra = {"summary": summary.as_dict()}


def import_inventory(
    session: Session,
    *,
    path: Path,
    layer: str,
    options: ImportOptions = ImportOptions(),
    principal: access.Principal = access.TERMINAL,
    step: Callable[[str], None] = lambda _: None,
    name: str | None = None,
) -> ImportSummary:
    """Read, check and store ``path`` as assets of ``layer``; see the module. Flushes, never
    commits; raises ImportRejected (nothing written) when a row is bad and not skip_invalid."""
    started = time.perf_counter()
    if layer not in LAYERS:
        raise InvalidInput(
            f"图层 {layer!r} 不存在，可选："
            + "、".join(f"{k}（{v.zh}）" for k, v in LAYERS.items()),
            f"Unknown layer {layer!r}; use one of {', '.join(LAYERS)}.",
            field="layer",
        )
    access.require_role(principal, "admin", "manager")
    mapping = load_mapping(options.mapping)
    defaults = mapping.read
    step("读取文件 reading the file")
    header_row = options.header_row
    if header_row is None and path.suffix.lower() not in VECTOR_SUFFIXES:
        # A county's mapping file serves its GIS files too, which have no header row to give.
        header_row = defaults.get("header_row")
    sheet = read_sheet(
        path,
        encoding=options.encoding or defaults.get("encoding"),
        header_row=header_row,
        sheet=options.sheet or defaults.get("sheet"),
        known_header=mapping.knows,
    )
    summary = ImportSummary(
        name or path.name,
        layer,
        options.mode,
        len(sheet.frame),
        notes=list(sheet.notes),
        dry_run=options.dry_run,
        sheet=sheet,
    )
    if not len(sheet.frame):
        raise InvalidInput(
            f"{summary.file} 没有数据行（只有表头或为空）",
            f"{summary.file} has no data rows.",
            field="path",
        )
    columns = _columns(sheet, mapping)
    fields = {c.field: c.header for c in columns if c.field not in ("extra", "ignore")}
    if options.mode == "update" and "code" not in fields:
        raise InvalidInput(
            f"更新模式按代码找到已有项目，但 {summary.file} 没有代码列。请加一列“编号”"
            "（或“项目代码”），或用 --mapping 指明哪一列是代码",
            f"Update mode finds the assets by code, but {summary.file} has no code column; add "
            "one (编号, 项目代码, code) or name it in a --mapping file.",
            field="code",
        )
    summary.extra_columns = [c.header for c in columns if c.field in ("extra", *rows.KEPT_AS_EXTRA)]
    summary.ignored_columns = [c.header for c in columns if c.field == "ignore"]
    step("检查数值 checking values")
    problems = Problems(sheet.rows)
    counties = places.Counties(session)
    parsed = rows.parse(
        sheet.frame,
        columns,
        layer=layer,
        mapping=mapping,
        counties=counties.names,
        problems=problems,
    )
    values, summary.derived = parsed.values, parsed.derived
    step("换算坐标 converting coordinates")
    located = geometry_.locate(
        sheet,
        fields,
        stated=options.crs or defaults.get("crs"),
        problems=problems,
        required=options.mode == "create",
    )
    summary.notes += located.notes
    geometry = geometry_.check(located.geometry, layer, problems)
    values["county_adcode"], derived = places.derive_and_check(
        counties,
        geometry,
        values["county_adcode"],
        located.crs,
        problems,
        fields.get("county_adcode"),
    )
    if derived:
        summary.derived["county_adcode"] = derived
    values["extra"], values["extra_personal"] = rows.extras(sheet.frame, columns)
    step("与数据库核对 checking against the database")
    good = ~problems.bad
    # Before the codes are made: a bulk load waiting for another import to end numbers them on
    # from that one's.
    bulk = load.bulk_ready(session, int(good.sum()))
    _make_codes(session, layer, values, problems, summary)
    _derive_names(values)
    values["n"] = np.arange(len(sheet.frame))
    matched = {}  # in bulk, the table is empty: every row is new
    if not bulk:
        load.stage(session, {k: v[good] for k, v in values.items()}, geometry[good])
        matched = {r[0]: r for r in load.existing(session)}
        load.keep_names(session, [n for n in matched if values["name_derived"][n]])
    new = good & ~np.isin(values["n"], list(matched))
    _check_matches(matched, layer, options.mode, principal, values, problems, fields)
    _check_new(new & ~problems.bad, layer, values, geometry, principal, problems, summary)
    summary.problems = problems.listed()
    if problems.bad.any() and not options.skip_invalid:
        raise ImportRejected(summary)
    step("写入 writing")
    # A savepoint, so that a rejection found while writing (a progress report the field-report
    # rules refuse) leaves nothing of this import behind, in any caller's transaction; a dry
    # run rolls it back in any case.
    savepoint = session.begin_nested()
    try:
        _write(
            session, summary, options=options, principal=principal, values=values,
            fields=fields, problems=problems, matched=matched, good=good,
            geometry=geometry if bulk else None,
        )  # fmt: skip
    except psycopg.errors.UniqueViolation as exc:
        savepoint.rollback()
        if exc.diag.constraint_name != load.CODE_KEY:
            raise
        raise _written_meanwhile(session, values, new) from exc
    except BaseException:
        savepoint.rollback()
        raise
    if options.dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    summary.seconds = time.perf_counter() - started
    return summary


def _write(
    session: Session,
    summary: ImportSummary,
    *,
    options: ImportOptions,
    principal: access.Principal,
    values: dict[str, np.ndarray],
    fields: dict[str, str],
    problems: Problems,
    matched: dict[int, tuple],
    good: np.ndarray,
    geometry: np.ndarray | None,
) -> None:
    """Progress reports and updates of the matched rows, then the new assets; with
    ``geometry``, a bulk load: nothing was staged, the good rows are copied in."""
    observed = options.observed_at or dt.datetime.now(dt.UTC)
    if geometry is not None:
        rows = ~problems.bad
        summary.created = load.copy_new(
            session,
            layer=summary.layer,
            columns={k: v[rows] for k, v in values.items()},
            geometry=geometry[rows],
            observed_at=observed,
            reporter=principal.user_id,
        )
        summary.skipped = int(problems.bad.sum())
        return
    load.drop_rows(session, [int(n) for n in np.flatnonzero(good & problems.bad)])
    updating = [n for n in matched if not problems.bad[n]]
    if updating:
        summary.progress = apply_progress(
            session,
            [matched[n] for n in updating],
            values,
            observed=observed,
            principal=principal,
            problems=problems,
            source=summary.file,
        )
        summary.problems = problems.listed()
        if problems.bad.any() and not options.skip_invalid:
            raise ImportRejected(summary)
        updating = [n for n in updating if not problems.bad[n]]
        given = [f for f in load.INVENTORY if f in fields or f.startswith("extra")] + ["geom"]
        summary.updated = load.update(session, rows=updating, given=given)
        summary.unchanged = len(updating) - summary.updated
    # The staged rows left are the good ones: the new, and the matched just updated.
    summary.created = load.create(
        session,
        layer=summary.layer,
        skip=list(matched),
        observed_at=observed,
        reporter=principal.user_id,
    )
    summary.skipped = int(problems.bad.sum())


def _written_meanwhile(session: Session, values, new: np.ndarray) -> DuplicateCode:
    """The refusal of an import that lost a race: another transaction (an import of the same
    file, a new asset) committed some of its new codes after they were checked as free. Its
    writes were taken back with the savepoint; the codes are read again, now committed."""
    codes = sorted(values["code"][n] for n, *_ in load.existing(session) if new[n])
    listed = codes[:MAX_LISTED]
    more = len(codes) - len(listed)
    zh_codes = "、".join(listed) + (f" 等 {len(codes)} 个" if more else "")
    en_codes = ", ".join(listed) + (f" and {more} more" if more else "")
    error = DuplicateCode(
        f"导入过程中，另一次导入（或录入）同时写入了本文件的代码：{zh_codes or '（已无）'}。"
        "本次未导入任何数据。请重新导入：已存在的代码会逐行列出；如要更新这些项目，请用更新模式"
        "（--update）",
        f"While this import ran, another import (or an edit) stored codes of this file: "
        f"{en_codes or '(none left)'}. Nothing was imported. Run the import again: the rows "
        "whose code now exists will be listed; to update those assets, import with --update.",
        field="code",
    )
    error.extra = {"codes": codes}
    return error


def _columns(sheet: Sheet, mapping) -> list[Column]:
    """Each header's column; a second column of a field already taken is kept as an extra."""
    out, taken = [], set()
    for header in sheet.frame.columns:
        column = mapping.column(header)
        if column.field not in ("extra", "ignore") and column.field in taken:
            column = Column(header, "extra", public=column.public)
        taken.add(column.field)
        out.append(column)
    return out


def _make_codes(session, layer, values, problems, summary) -> None:
    """Codes in the tracker's format (FW-410781-00012) for rows without one, numbered on from
    the highest such code of the county in the database and in the file."""
    need = (values["code"] == "") & ~problems.bad & (values["county_adcode"] != "")
    if not need.any():
        return
    prefix = LAYERS[layer].code_prefix
    highest = load.highest_numbers(session, prefix)
    for code in values["code"][values["code"] != ""]:
        parts = code.split("-")
        if len(parts) == 3 and parts[0] == prefix and parts[2].isdigit():
            highest[parts[1]] = max(highest.get(parts[1], 0), int(parts[2]))
    for i in np.flatnonzero(need):
        county = values["county_adcode"][i]
        highest[county] = highest.get(county, 0) + 1
        values["code"][i] = f"{prefix}-{county}-{highest[county]:05d}"
        summary.generated_codes[int(problems.rows[i])] = values["code"][i]
    summary.derived["code"] = int(need.sum())


def _check_matches(matched, layer, mode, principal, values, problems, fields) -> None:
    header = fields.get("code")
    for n, (_, asset_id, asset_layer, county, _, _, asset_name) in matched.items():
        code = values["code"][n]
        if mode == "create":
            problems.at(
                n,
                field="code",
                column=header,
                value=code,
                zh=f"代码 {code} 已被“{asset_name}”（编号 {asset_id}）使用。如要更新它，"
                "请用更新模式（--update）；否则请换一个代码",
                en=f"Code {code} is already used by asset {asset_id} ({asset_name}); to "
                "update it import with --update, otherwise choose another code.",
            )
        elif asset_layer != layer:
            problems.at(
                n,
                field="code",
                column=header,
                value=code,
                zh=f"代码 {code} 属于图层 {LAYERS[asset_layer].zh}，不是 {LAYERS[layer].zh}",
                en=f"Code {code} belongs to layer {asset_layer}, not {layer}.",
            )
        elif not principal.reads(county):
            problems.at(
                n,
                field="code",
                column=header,
                value=code,
                zh=f"项目 {code} 属于县区 {county}，不在您负责的县区内",
                en=f"Asset {code} is in county {county}, outside your counties.",
            )


def _check_new(new, layer, values, geometry, principal, problems, summary) -> None:
    """What a row must have to become an asset; the name is made from village and code."""
    missing_geom = new & shapely.is_missing(geometry)
    problems.add(
        missing_geom,
        field="geometry",
        zh="缺少位置：请填写坐标或在地图上标出位置",
        en="No location: fill in the coordinates or draw the geometry.",
    )
    kinds = "、".join(k.zh for k in KINDS[layer])
    hint_zh = {"houses": "，或填“损毁等级”“重建方式”", "roads": "，或填“路线编号”（X/Y/C 开头）"}
    hint_en = {"houses": ", or 损毁等级/重建方式", "roads": ", or a route number (X/Y/C...)"}
    problems.add(
        new & (values["kind"] == ""),
        field="kind",
        zh=f"缺少类别：请填写{kinds}之一{hint_zh.get(layer, '')}",
        en=f"No kind: fill one in{hint_en.get(layer, '')}.",
    )
    problems.add(
        new & ~missing_geom & (values["county_adcode"] == ""),
        field="county_adcode",
        zh="缺少县区，且无法由位置确定",
        en="No county, and none found at the location.",
    )
    if layer == "roads":
        problems.add(
            new & (values["batch"] == ""),
            field="batch",
            zh="农村公路必须注明批次：1（第一批）或 2（第二批）",
            en="A road needs its batch: 1 or 2.",
        )
    problems.add(
        new
        & (values["households"] != "")
        & (values["kind"] != "resettlement_site")
        & (values["kind"] != ""),
        field="households",
        zh="只有安置区填写安置户数",
        en="Only resettlement sites have a household count.",
    )
    if principal.counties is not None:
        outside = (
            new
            & (values["county_adcode"] != "")
            & ~np.isin(values["county_adcode"], list(principal.counties))
        )
        problems.add(
            outside,
            field="county_adcode",
            values=values["county_adcode"],
            zh="县区 {value} 不在您负责的县区内，不能导入",
            en="County {value} is outside your counties.",
        )
    summary.derived.pop("name", None)
    named = int((new & values["name_derived"]).sum())
    if named:
        summary.derived["name"] = named


def _derive_names(values) -> None:
    """A name from the village (or town) and the code where the file gives none."""
    unnamed = (values["name"] == "") & (values["code"] != "")
    values["name_derived"] = unnamed
    place = np.where(values["village"] != "", values["village"], values["town"])
    values["name"][unnamed] = [
        f"{v}（{c}）" if v else c
        for v, c in zip(place[unnamed], values["code"][unnamed], strict=True)
    ]
