"""Words on the map pages, Chinese first (``lang="zh"``) with English (``lang="en"``)."""

from gis.asset_status import ASSET_STATUS_EN, ASSET_STATUS_ZH
from gis.progress import STATUS_ZH
from gis.vocab import KINDS, STAGES

LANGS = ("zh", "en")

STATUS_EN = {"done": "Done", "on_track": "On track", "at_risk": "At risk", "overdue": "Overdue"}

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "overview": "各县区进度",
        "code": "编号",
        "village": "位置",
        "kind": "类别",
        "stage": "阶段",
        "percent": "完成比例",
        "last_report": "最近上报",
        "due_on": "截止日期",
        "status": "期限状态",
        "history": "查看上报记录",
        "never": "尚无上报",
        "cluster_of": "此处 {n} 个项目",
        "zoom_in": "放大查看各个项目",
        "as_of": "截至",
        "county": "县区",
        "rule": "时间节点",
        "layer": "图层",
        "all": "全部",
        "apply": "筛选",
        "prev_month": "‹ 上月",
        "next_month": "下月 ›",
        "legend_status": "期限状态（颜色）",
        "legend_stage": "阶段（填充深浅）",
        "legend_county": "县区状态",
        "legend_cluster": "圆圈内数字：该处项目数",
        "no_assets": "无项目",
        "search": "按编号查找",
        "counties": "县区边界",
        "assets": "项目",
        "shown": "共 {n} 个项目",
        "tiles_mode": "项目多于 {bound} 个：按矢量图块显示，缩小时合并为圆圈（数字为项目数）",
        "home": "首页",
        "total": "总数",
        "reached": "已达标",
        "days_left": "剩余天数",
        "required": "需日均",
        "recent": "近14天日均",
        "projected": "预计完成",
        "switch": "English",
    },
    "en": {
        "overview": "Counties",
        "code": "Code",
        "village": "Where",
        "kind": "Kind",
        "stage": "Stage",
        "percent": "Percent done",
        "last_report": "Last report",
        "due_on": "Due",
        "status": "Deadline status",
        "history": "Report history",
        "never": "no report yet",
        "cluster_of": "{n} assets here",
        "zoom_in": "Zoom in to see each asset",
        "as_of": "As of",
        "county": "County",
        "rule": "Deadline",
        "layer": "Layer",
        "all": "all",
        "apply": "Filter",
        "prev_month": "‹ month before",
        "next_month": "month after ›",
        "legend_status": "Deadline status (colour)",
        "legend_stage": "Stage (fill)",
        "legend_county": "County status",
        "legend_cluster": "Number in a circle: assets there",
        "no_assets": "No assets",
        "search": "Find by code",
        "counties": "County boundaries",
        "assets": "Assets",
        "shown": "{n} assets",
        "tiles_mode": "More than {bound} assets: drawn as vector tiles, merged into circles "
        "(with their count) when zoomed out",
        "home": "Home",
        "total": "Total",
        "reached": "Reached",
        "days_left": "Days left",
        "required": "Required/day",
        "recent": "Recent/day",
        "projected": "Projected",
        "switch": "中文",
    },
}


def check_lang(lang: str) -> str:
    return lang if lang in LANGS else "zh"


def stage_labels(lang: str) -> dict[str, str]:
    return {t.key: (t.zh if lang == "zh" else t.en) for t in STAGES}


def kind_labels(layer: str, lang: str) -> dict[str, str]:
    return {t.key: (t.zh if lang == "zh" else t.en) for t in KINDS[layer]}


def asset_status_labels(lang: str) -> dict[str, str]:
    return dict(ASSET_STATUS_ZH if lang == "zh" else ASSET_STATUS_EN)


def county_status_labels(lang: str) -> dict[str, str]:
    return dict(STATUS_ZH if lang == "zh" else STATUS_EN)
