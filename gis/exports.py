"""The progress workbook a county office prints and sends on (XLSX, Chinese first).

Sheets: 汇总 (counties as rows, each deadline rule's total / reached / percent / status as
columns, a city total row), 逾期 (overdue assets, the first OVERDUE_ROWS), one sheet per layer
with every asset's state on the day — or, when the layer holds more than DETAIL_ROWS assets in the
workbook's scope (a city of a million houses), one row per village with its assets per stage, and
a pointer to the layer's GeoPackage for the asset list — and, only for readers allowed to see
them, 住户信息, householders' personal data, marked as such. Text that came from users is
written as text with Excel's quote prefix where it could be taken for a formula (=, +, -, @,
tab, CR), so it never becomes a live formula.
"""

import csv
import datetime as dt
import io
import zipfile
from typing import Any

import xlsxwriter
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import progress as engine
from gis import progress_lists
from gis.access import Principal
from gis.burnup import Series, burnup
from gis.progress import SCOPE, STATUS_COLOUR, STATUS_ZH, scope_params, state_as_of
from gis.vocab import LAYERS, STAGE_ZH

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A workbook is printed and mailed: a county's asset lists fit (tens of thousands at most), a
# city of a million houses is summarised by village. Writing costs about 15 µs a cell here.
DETAIL_ROWS = 20_000
OVERDUE_ROWS = 20_000

_AS_OF = state_as_of("cutoff", "past")
_ASSETS = text(
    f"""
    SELECT a.code, c.name_zh AS county, a.town, a.village, a.name, k.name_zh AS kind,
           a.batch, a.households, a.planned_investment_wan, a.funds_secured_wan,
           {_AS_OF.stage} AS stage,
           {_AS_OF.percent} AS percent,
           a.householder_name, a.householder_phone, a.county_adcode
      FROM assets a
      {_AS_OF.join}
      JOIN counties c ON c.adcode = a.county_adcode
      JOIN asset_kinds k ON k.layer = a.layer AND k.kind = a.kind
     WHERE a.layer = :layer
       AND {SCOPE}
     ORDER BY a.county_adcode, a.code
    """
)

_IN_LAYER = text(
    f"""
    SELECT coalesce(sum(a.assets), 0) FROM progress_tallies a
     WHERE a.layer = :layer AND a.day <= :day AND {SCOPE}
    """
)

_BY_VILLAGE = text(
    f"""
    SELECT c.name_zh AS county, a.town, a.village, count(*) AS assets,
           {
        ", ".join(f"count(*) FILTER (WHERE {_AS_OF.stage} = '{key}') AS {key}" for key in STAGE_ZH)
    },
           sum(a.households) AS households, sum(a.planned_investment_wan) AS planned,
           sum(a.funds_secured_wan) AS secured
      FROM assets a
      {_AS_OF.join}
      JOIN counties c ON c.adcode = a.county_adcode
     WHERE a.layer = :layer AND {SCOPE}
     GROUP BY a.county_adcode, c.name_zh, a.town, a.village
     ORDER BY a.county_adcode, a.town, a.village
    """
)


class _Book:
    """The workbook and its formats."""

    def __init__(self, out: io.BytesIO) -> None:
        self.book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False})
        add = self.book.add_format
        font = {"font_name": "Microsoft YaHei", "font_size": 10}
        self.title = add({**font, "bold": True, "font_size": 14})
        self.note = add({**font, "italic": True, "font_color": "#555555"})
        self.head = add({**font, "bold": True, "bg_color": "#D9D9D9", "border": 1,
                         "text_wrap": True, "align": "center", "valign": "vcenter"})  # fmt: skip
        self.text = add({**font, "border": 1})
        self.quoted = add({**font, "border": 1, "quote_prefix": True})
        self.int = add({**font, "border": 1, "num_format": "#,##0"})
        self.money = add({**font, "border": 1, "num_format": "#,##0.00"})
        self.pct = add({**font, "border": 1, "num_format": "0.0%"})
        self.date = add({**font, "border": 1, "num_format": "yyyy-mm-dd"})
        self.total = add({**font, "bold": True, "border": 1, "top": 2})
        self.status = {
            key: add({**font, "border": 1, "bg_color": colour, "align": "center"})
            for key, colour in STATUS_COLOUR.items()
        }

    def user_text(self, sheet: Any, row: int, col: int, value: str | None) -> None:
        """Text typed by people (names, villages, notes): never a formula."""
        if value is None:
            sheet.write_blank(row, col, None, self.text)
        elif value.startswith(FORMULA_START):
            sheet.write_string(row, col, value, self.quoted)
        else:
            sheet.write_string(row, col, value, self.text)

    def print_setup(self, sheet: Any, header_rows: tuple[int, int]) -> None:
        sheet.set_landscape()
        sheet.set_paper(9)  # A4
        sheet.fit_to_pages(1, 0)
        sheet.repeat_rows(*header_rows)
        sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        sheet.set_footer("&C第 &P 页，共 &N 页 Page &P of &N")


def progress_workbook(
    session: Session,
    *,
    principal: Principal,
    as_of: dt.date,
    county: str | None = None,
    generated_at: dt.datetime | None = None,
) -> bytes:
    """The workbook for ``as_of``, for what ``principal`` may read (optionally one county)."""
    rows = engine.progress(session, principal=principal, as_of=as_of, county=county)
    generated_at = generated_at or dt.datetime.now(engine.CHINA)
    out = io.BytesIO()
    book = _Book(out)
    heading = f"新乡市灾后重建进度表（截至 {as_of}）"
    stamp = (
        f"生成时间 {generated_at:%Y-%m-%d %H:%M}（北京时间）；按当前时间节点计算。"
        f"Progress as of {as_of}, generated {generated_at:%Y-%m-%d %H:%M} (UTC+8), "
        "against today's deadline rules."
    )
    _summary(book, rows, heading, stamp)
    _charts(book, burnup(session, principal=principal, as_of=as_of, county=county), heading)
    _overdue(book, session, principal, as_of, county, heading)
    sees_personal = principal.personal_everywhere_it_reads
    personal: list[tuple] = []
    for layer in LAYERS:
        personal += _layer_sheet(book, session, principal, as_of, county, layer, heading)
    if sees_personal and personal:
        _personal_sheet(book, personal, heading)
    book.book.close()
    return out.getvalue()


def _summary(book: _Book, rows: list[engine.RuleProgress], heading: str, stamp: str) -> None:
    sheet = book.book.add_worksheet("汇总 Summary")
    rules = list(dict.fromkeys((r.rule, r.label_zh, r.layer, r.due_on) for r in rows))
    counties = sorted({(r.county_adcode, r.county_zh) for r in rows if r.county_adcode})
    cell = {(r.rule, r.county_adcode): r for r in rows}
    sheet.write(0, 0, heading, book.title)
    sheet.write(1, 0, stamp, book.note)
    sheet.write(3, 0, "县区 County", book.head)
    sheet.merge_range(3, 0, 4, 0, "县区 County", book.head)
    sub = ("总数", "已完成", "完成率", "状态")
    for i, (_, label, layer, due) in enumerate(rules):
        first = 1 + i * len(sub)
        title = f"{LAYERS[layer].zh}：{label}（{due} 前）"
        sheet.merge_range(3, first, 3, first + len(sub) - 1, title, book.head)
        for j, name in enumerate(sub):
            sheet.write(4, first + j, name, book.head)
    body = [(adcode, name, False) for adcode, name in counties] + [(None, "全市合计 Total", True)]
    for n, (adcode, name, is_total) in enumerate(body):
        row = 5 + n
        sheet.write_string(row, 0, name, book.total if is_total else book.text)
        for i, (rule, *_) in enumerate(rules):
            first = 1 + i * len(sub)
            r = cell.get((rule, adcode))
            if r is None:
                for j in range(len(sub)):
                    sheet.write_blank(row, first + j, None, book.text)
                continue
            sheet.write_number(row, first, r.total, book.int)
            sheet.write_number(row, first + 1, r.reached, book.int)
            sheet.write_number(row, first + 2, r.percent / 100, book.pct)
            sheet.write_string(row, first + 3, STATUS_ZH[r.status], book.status[r.status])
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, len(rules) * len(sub), 9)
    sheet.set_row(3, 48)
    sheet.freeze_panes(5, 1)
    book.print_setup(sheet, (3, 4))
    sheet.repeat_columns(0, 0)


def _charts(book: _Book, series: list[Series], heading: str) -> None:
    """Burn-up per rule: assets at the rule's stage at each month's end, against the total,
    as native line charts over a data table on the same sheet."""
    name = "图表 Charts"
    sheet = book.book.add_worksheet(name)
    sheet.write(0, 0, f"{heading} — 进度曲线 burn-up", book.title)
    if not series:
        return
    days = series[0].days
    sheet.write(2, 0, "日期 Date", book.head)
    for n, day in enumerate(days):
        sheet.write_datetime(3 + n, 0, dt.datetime.combine(day, dt.time()), book.date)
    last = 3 + len(days) - 1
    for i, s in enumerate(series):
        done_col, total_col = 1 + 2 * i, 2 + 2 * i
        sheet.write(2, done_col, f"{s.label_zh} 已完成", book.head)
        sheet.write(2, total_col, f"{s.label_zh} 总数", book.head)
        for n, reached in enumerate(s.reached):
            sheet.write_number(3 + n, done_col, reached, book.int)
            sheet.write_number(3 + n, total_col, s.total, book.int)
        chart = book.book.add_chart({"type": "line"})
        chart.add_series(
            {
                "name": "已完成 reached",
                "categories": [name, 3, 0, last, 0],
                "values": [name, 3, done_col, last, done_col],
                "marker": {"type": "circle", "size": 4},
            }
        )
        chart.add_series(
            {
                "name": "总数 in scope",
                "categories": [name, 3, 0, last, 0],
                "values": [name, 3, total_col, last, total_col],
                "line": {"dash_type": "dash"},
            }
        )
        chart.set_title({"name": f"{s.label_zh}（{s.due_on} 前）"})
        chart.set_x_axis({"date_axis": True, "num_format": "yyyy-mm"})
        chart.set_legend({"position": "bottom"})
        chart.set_size({"width": 560, "height": 280})
        sheet.insert_chart(last + 3 + 15 * i, 0, chart)
    sheet.set_column(0, 2 * len(series), 14)
    book.print_setup(sheet, (2, 2))


def _overdue(book, session, principal, as_of, county, heading) -> None:
    sheet = book.book.add_worksheet("逾期 Overdue")
    sheet.write(0, 0, f"{heading} — 逾期项目 overdue assets", book.title)
    headers = ("代码 Code", "县区 County", "乡镇 Town", "村 Village", "名称 Name", "类别 Kind",
               "时间节点 Rule", "截止 Due", "逾期天数 Days late", "当时阶段 Stage",
               "完成 %")  # fmt: skip
    for col, name in enumerate(headers):
        sheet.write(2, col, name, book.head)
    late = progress_lists.overdue(
        session, principal=principal, as_of=as_of, county=county, limit=OVERDUE_ROWS + 1
    )
    if len(late) > OVERDUE_ROWS:
        late = late[:OVERDUE_ROWS]
        sheet.write(
            1, 0,
            f"仅列出逾期最久的前 {OVERDUE_ROWS:,} 条；"
            "完整清单见 /progress/overdue（可分页）或按县导出。"
            f"Only the first {OVERDUE_ROWS:,} (longest overdue) are listed; the full list is "
            "at /progress/overdue (paged), or export county by county.",
            book.note,
        )  # fmt: skip
    for n, a in enumerate(late):
        row = 3 + n
        book.user_text(sheet, row, 0, a["code"])
        sheet.write_string(row, 1, a["county_zh"], book.text)
        book.user_text(sheet, row, 2, a["town"])
        book.user_text(sheet, row, 3, a["village"])
        book.user_text(sheet, row, 4, a["name"])
        sheet.write_string(row, 5, a["kind_zh"], book.text)
        sheet.write_string(row, 6, a["rule_zh"], book.text)
        sheet.write_datetime(row, 7, dt.datetime.combine(a["due_on"], dt.time()), book.date)
        sheet.write_number(row, 8, a["days_overdue"], book.int)
        sheet.write_string(row, 9, STAGE_ZH[a["stage"]], book.text)
        sheet.write_number(row, 10, a["percent"] / 100, book.pct)
    sheet.set_column(0, 0, 18)
    sheet.set_column(1, 10, 12)
    sheet.freeze_panes(3, 1)
    book.print_setup(sheet, (2, 2))


def _layer_sheet(book, session, principal, as_of, county, layer, heading) -> list[tuple]:
    """Every asset of the layer with its state on the day, or above DETAIL_ROWS one row per
    village; returns the personal-data rows (none for a summary)."""
    params = scope_params(session, principal, as_of=as_of, county=county)
    count = session.execute(_IN_LAYER, {**params, "layer": layer, "day": as_of}).scalar_one()
    if count > DETAIL_ROWS:
        _village_sheet(book, session, params, layer, heading, count)
        return []
    sheet = book.book.add_worksheet(f"{LAYERS[layer].zh}")
    sheet.write(0, 0, f"{heading} — {LAYERS[layer].zh} {LAYERS[layer].en}", book.title)
    headers = ("代码 Code", "县区 County", "乡镇 Town", "村 Village", "名称 Name", "类别 Kind",
               "批次 Batch", "户数 Households", "计划投资（万元）", "已落实资金（万元）",
               "阶段 Stage", "完成 %")  # fmt: skip
    for col, name in enumerate(headers):
        sheet.write(2, col, name, book.head)
    assets = session.execute(_ASSETS, {**params, "layer": layer}).all()
    personal = []
    for n, a in enumerate(assets):
        row = 3 + n
        book.user_text(sheet, row, 0, a.code)
        sheet.write_string(row, 1, a.county, book.text)
        book.user_text(sheet, row, 2, a.town)
        book.user_text(sheet, row, 3, a.village)
        book.user_text(sheet, row, 4, a.name)
        sheet.write_string(row, 5, a.kind, book.text)
        for col, value, fmt in ((6, a.batch, book.int), (7, a.households, book.int),
                                (8, a.planned_investment_wan, book.money),
                                (9, a.funds_secured_wan, book.money)):  # fmt: skip
            if value is None:
                sheet.write_blank(row, col, None, book.text)
            else:
                sheet.write_number(row, col, float(value), fmt)
        sheet.write_string(row, 10, STAGE_ZH[a.stage], book.text)
        sheet.write_number(row, 11, a.percent / 100, book.pct)
        if (a.householder_name or a.householder_phone) and principal.sees_personal(a.county_adcode):
            personal.append((a.code, a.county, a.village, a.householder_name, a.householder_phone))
    sheet.set_column(0, 0, 18)
    sheet.set_column(1, 11, 12)
    sheet.freeze_panes(3, 1)
    book.print_setup(sheet, (2, 2))
    return personal


def _village_sheet(book, session, params, layer, heading, count) -> None:
    """One row per village: its assets in each stage on the day, households and money."""
    names = LAYERS[layer]
    sheet = book.book.add_worksheet(f"{names.zh}（按村汇总）")
    sheet.write(0, 0, f"{heading} — {names.zh}按村汇总 {names.en} by village", book.title)
    sheet.write(
        1, 0,
        f"共 {count:,} 个，超过逐条列出的上限 {DETAIL_ROWS:,}，故按村汇总；逐条清单请导出 "
        f"/exports/{layer}.gpkg 或 .geojson，或按县导出本表。{count:,} assets, more than the "
        f"{DETAIL_ROWS:,} listed one by one, so they are summed per village; for the list, "
        f"export /exports/{layer}.gpkg or .geojson, or this workbook county by county.",
        book.note,
    )  # fmt: skip
    headers = ("县区 County", "乡镇 Town", "村 Village", "总数 Assets",
               *(f"{zh}" for zh in STAGE_ZH.values()), "完工率 Done %", "户数 Households",
               "计划投资（万元）", "已落实资金（万元）")  # fmt: skip
    for col, name in enumerate(headers):
        sheet.write(3, col, name, book.head)
    stages = len(STAGE_ZH)
    rows = session.execute(_BY_VILLAGE, {**params, "layer": layer}).all()
    for n, v in enumerate(rows):
        row = 4 + n
        sheet.write_string(row, 0, v.county, book.text)
        book.user_text(sheet, row, 1, v.town)
        book.user_text(sheet, row, 2, v.village)
        sheet.write_number(row, 3, v.assets, book.int)
        for i, key in enumerate(STAGE_ZH):
            sheet.write_number(row, 4 + i, getattr(v, key), book.int)
        sheet.write_number(row, 4 + stages, (v.completed + v.accepted) / v.assets, book.pct)
        for col, value, fmt in ((5 + stages, v.households, book.int),
                                (6 + stages, v.planned, book.money),
                                (7 + stages, v.secured, book.money)):  # fmt: skip
            if value is None:
                sheet.write_blank(row, col, None, book.text)
            else:
                sheet.write_number(row, col, float(value), fmt)
    sheet.set_column(0, 2, 14)
    sheet.set_column(3, len(headers), 10)
    sheet.freeze_panes(4, 3)
    book.print_setup(sheet, (3, 3))


def _personal_sheet(book: _Book, rows: list[tuple], heading: str) -> None:
    sheet = book.book.add_worksheet("住户信息（个人信息）")
    sheet.write(0, 0, f"{heading} — 住户个人信息，注意保密 PERSONAL DATA: do not share", book.title)
    headers = ("代码 Code", "县区 County", "村 Village", "户主 Householder", "电话 Phone")
    for col, name in enumerate(headers):
        sheet.write(2, col, name, book.head)
    for n, values in enumerate(rows):
        for col, value in enumerate(values):
            book.user_text(sheet, 3 + n, col, value)
    sheet.set_column(0, 4, 16)
    sheet.freeze_panes(3, 1)
    book.print_setup(sheet, (2, 2))


CSV_HEADERS = (
    "时间节点 rule", "图层 layer", "截止日期 due", "县区 county", "总数 total", "已完成 reached",
    "完成率% percent", "按户数或公里% by size", "按投资% by investment", "剩余天数 days left",
    "需日均 required/day", "近14天日均 recent/day", "预计完成 projected", "状态 status",
)  # fmt: skip


def neutralise(value: str) -> str:
    """A CSV cell that a spreadsheet could take for a formula, made plain text (OWASP)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def progress_csv(
    session: Session, *, principal: Principal, as_of: dt.date, county: str | None = None
) -> bytes:
    """The summary as CSV: UTF-8 with a byte-order mark, so that Excel reads the Chinese."""
    rows = engine.progress(session, principal=principal, as_of=as_of, county=county)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    for r in rows:
        cells = (
            r.label_zh, LAYERS[r.layer].zh, r.due_on.isoformat(), r.county_zh or "合计 total",
            r.total, r.reached, r.percent, r.percent_size, r.percent_investment, r.days_left,
            r.required_per_day, r.recent_per_day,
            r.projected_finish.isoformat() if r.projected_finish else None,
            f"{STATUS_ZH[r.status]} {r.status}",
        )  # fmt: skip
        writer.writerow(["" if c is None else neutralise(c) if isinstance(c, str) else c
                         for c in cells])  # fmt: skip
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def progress_zip(
    session: Session,
    *,
    principal: Principal,
    as_of: dt.date,
    generated_at: dt.datetime | None = None,
) -> bytes:
    """One workbook per county the principal may read, in a zip (names in Chinese, UTF-8)."""
    counties = session.execute(
        text(
            "SELECT adcode, name_zh FROM counties "
            "WHERE CAST(:scope AS text[]) IS NULL OR adcode = ANY(:scope) ORDER BY adcode"
        ),
        {"scope": None if principal.counties is None else sorted(principal.counties)},
    ).all()
    generated_at = generated_at or dt.datetime.now(engine.CHINA)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for adcode, name in counties:
            book = progress_workbook(
                session, principal=principal, as_of=as_of, county=adcode,
                generated_at=generated_at,
            )  # fmt: skip
            archive.writestr(f"{adcode}_{name}_进度_{as_of}.xlsx", book)
    return out.getvalue()
