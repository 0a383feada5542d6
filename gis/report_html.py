"""The printable progress report (HTML, Chinese first): the summary table and a burn-up chart
per rule drawn as inline SVG, so it prints and works with no internet and no scripts."""

import datetime as dt
from html import escape

from gis.burnup import Series
from gis.progress import STATUS_COLOUR, STATUS_ZH, RuleProgress
from gis.vocab import LAYERS

STYLE = """
body { font-family: "Microsoft YaHei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif;
       margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; margin: 0; } .note { color: #555; font-size: 0.85rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #999; padding: 0.2rem 0.4rem; text-align: right; }
th { background: #d9d9d9; } td.name { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; break-inside: avoid; } figcaption { font-size: 0.85rem; }
@page { size: A4 landscape; margin: 12mm; }
"""


def _svg(s: Series, width: int = 520, height: int = 200) -> str:
    pad = 34
    top = max(s.total, max(s.reached, default=0), 1)
    span = max((s.days[-1] - s.days[0]).days, 1)

    def x(day: dt.date) -> float:
        return pad + (width - 2 * pad) * (day - s.days[0]).days / span

    def y(value: float) -> float:
        return height - pad - (height - 2 * pad) * value / top

    line = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in zip(s.days, s.reached, strict=True))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(s.label_zh)}">',
        f'<line x1="{pad}" y1="{y(0):.1f}" x2="{width - pad}" y2="{y(0):.1f}" stroke="#999"/>',
        f'<line x1="{pad}" y1="{y(s.total):.1f}" x2="{width - pad}" y2="{y(s.total):.1f}" '
        'stroke="#888" stroke-dasharray="5,4"/>',
        f'<text x="{width - pad}" y="{y(s.total) - 4:.1f}" font-size="11" text-anchor="end">'
        f"总数 {s.total}</text>",
        f'<polyline points="{line}" fill="none" stroke="#1d5fa8" stroke-width="2"/>',
        f'<text x="{pad}" y="{height - 8}" font-size="11">{s.days[0]:%Y-%m}</text>',
        f'<text x="{width - pad}" y="{height - 8}" font-size="11" text-anchor="end">'
        f"{s.days[-1]}</text>",
    ]
    if s.days[0] <= s.due_on <= s.days[-1]:
        parts.append(
            f'<line x1="{x(s.due_on):.1f}" y1="{pad}" x2="{x(s.due_on):.1f}" y2="{y(0):.1f}" '
            'stroke="#c00" stroke-dasharray="3,3"/>'
            f'<text x="{x(s.due_on) + 3:.1f}" y="{pad + 10}" font-size="11" fill="#c00">'
            f"截止 {s.due_on}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def progress_html(
    rows: list[RuleProgress], series: list[Series], *, as_of: dt.date, generated_at: dt.datetime
) -> str:
    heading = f"新乡市灾后重建进度报告（截至 {as_of}）"
    body = [
        f"<h1>{escape(heading)}</h1>",
        f'<p class="note">生成时间 {generated_at:%Y-%m-%d %H:%M}（北京时间），按当前时间节点计算。'
        f"Progress as of {as_of}.</p>",
        "<table><tr><th>时间节点</th><th>截止</th><th>县区</th><th>总数</th><th>已完成</th>"
        "<th>完成率</th><th>剩余天数</th><th>需日均</th><th>近14天日均</th><th>预计完成</th>"
        "<th>状态</th></tr>",
    ]
    for r in rows:
        body.append(
            f'<tr><td class="name">{escape(LAYERS[r.layer].zh)}：{escape(r.label_zh)}</td>'
            f'<td>{r.due_on}</td><td class="name">{escape(r.county_zh or "合计")}</td>'
            f"<td>{r.total}</td><td>{r.reached}</td><td>{r.percent:.1f}%</td>"
            f"<td>{r.days_left}</td>"
            f"<td>{'' if r.required_per_day is None else f'{r.required_per_day:.2f}'}</td>"
            f"<td>{r.recent_per_day:.2f}</td><td>{r.projected_finish or ''}</td>"
            f'<td style="background:{STATUS_COLOUR[r.status]}">{STATUS_ZH[r.status]}</td></tr>'
        )
    body.append('</table><h2>进度曲线 Burn-up</h2><div class="charts">')
    for s in series:
        caption = f"{LAYERS[s.layer].zh}：{s.label_zh}（{s.due_on} 前）"
        body.append(f"<figure>{_svg(s)}<figcaption>{escape(caption)}</figcaption></figure>")
    body.append("</div>")
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(heading)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
