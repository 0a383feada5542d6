"""The report a clerk can fix: their rows as sent, with what is wrong with each (and the codes
made for rows without one), as a workbook to correct and import again."""

from pathlib import Path

import xlsxwriter

from gis.imports import ImportSummary

PROBLEM_HEADER = "问题 problems"
CODE_HEADER = "生成的代码 generated code"
ROW_HEADER = "原行号 row"


def write_report(summary: ImportSummary, path: Path) -> None:
    """Write ``summary``'s rows (the file's columns as sent) with a row-number, a problems
    and a generated-code column to ``path`` (.xlsx); bad rows first and highlighted."""
    sheet = summary.sheet
    if sheet is None:
        return
    by_row: dict[int, list[str]] = {}
    for p in summary.problems:
        by_row.setdefault(p.row, []).append(f"{p.column or p.field or ''}：{p.zh}（{p.en}）")
    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    ws = book.add_worksheet("导入检查 import check")
    bold = book.add_format({"bold": True, "bg_color": "#DDDDDD"})
    bad = book.add_format({"bg_color": "#FCE4D6", "text_wrap": True})
    headers = [ROW_HEADER, PROBLEM_HEADER, CODE_HEADER, *map(str, sheet.frame.columns)]
    ws.write_row(0, 0, headers, bold)
    order = sorted(range(len(sheet.rows)), key=lambda i: (int(sheet.rows[i]) not in by_row, i))
    for out, i in enumerate(order, start=1):
        number = int(sheet.rows[i])
        problems = by_row.get(number)
        style = bad if problems else None
        ws.write_number(out, 0, number, style)
        ws.write_string(out, 1, "\n".join(problems or []), style)
        ws.write_string(out, 2, summary.generated_codes.get(number, ""), style)
        for j, value in enumerate(sheet.frame.iloc[i].tolist(), start=3):
            ws.write_string(out, j, str(value), style)
    ws.freeze_panes(1, 0)
    ws.set_column(1, 1, 60)
    ws.set_column(2, 2, 20)
    ws.autofilter(0, 0, len(order), len(headers) - 1)
    book.close()
