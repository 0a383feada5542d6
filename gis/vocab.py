"""The tracker's fixed vocabulary: layers, kinds of asset, and the stages of repair, in order.

The migration writes these into reference tables (``layers``, ``asset_kinds``, ``stages``) so that
the database enforces them with foreign keys and exports can join their Chinese names.
"""

from typing import NamedTuple


class Term(NamedTuple):
    key: str
    zh: str
    en: str


class LayerTerm(NamedTuple):
    key: str
    zh: str
    en: str
    geometry_types: tuple[str, ...]  # PostGIS ST_GeometryType names without the "ST_" prefix
    code_prefix: str


LAYERS: dict[str, LayerTerm] = {
    t.key: t
    for t in (
        LayerTerm("houses", "农村住房", "Rural houses", ("Point",), "FW"),
        LayerTerm(
            "water_works",
            "水毁水利设施",
            "Flood-damaged water works",
            ("Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon"),
            "SL",
        ),
        LayerTerm(
            "roads",
            "水毁农村公路",
            "Flood-damaged rural roads",
            ("LineString", "MultiLineString"),
            "GL",
        ),
    )
}

KINDS: dict[str, tuple[Term, ...]] = {
    "houses": (
        Term("general_repair", "一般损坏房屋加固修缮", "Generally damaged house: repair"),
        Term(
            "self_rebuild",
            "倒塌和严重损坏房屋村民自建",
            "Collapsed or severely damaged: self-rebuild",
        ),
        Term("resettlement_site", "政府统建安置区", "Government-built resettlement site"),
    ),
    "water_works": (
        Term("reservoir", "水库", "Reservoir"),
        Term("levee", "河道堤防", "River levee"),
        Term("sluice", "水闸", "Sluice"),
        Term("water_supply", "农村供水安全设施", "Rural water-supply works"),
        Term("irrigation", "灌区水利设施", "Irrigation-district works"),
        Term("river_regulation", "河道治理与清淤", "River regulation and dredging"),
    ),
    "roads": (
        Term("county_road", "县道", "County road"),
        Term("township_road", "乡道", "Township road"),
        Term("village_road", "村道", "Village road"),
    ),
}

# Stages in order. Going backwards needs a reason (enforced where reports are recorded).
STAGES: tuple[Term, ...] = (
    Term("not_started", "未开工", "Not started"),
    Term("preparatory_done", "前期完成", "Preparatory work done"),
    Term("started", "已开工", "Started"),
    Term("completed", "已完工", "Completed"),
    Term("accepted", "已验收（具备入住条件）", "Accepted / ready for move-in"),
)
STAGE_ORDER: dict[str, int] = {t.key: i for i, t in enumerate(STAGES)}
STAGE_ZH: dict[str, str] = {t.key: t.zh for t in STAGES}
STAGE_ZERO_PERCENT = ("not_started", "preparatory_done")
STAGE_FULL_PERCENT = ("completed", "accepted")

ROAD_BATCHES = (1, 2)

# Other names county inventories give the kinds and stages (besides the keys and the Chinese
# names above, which are always accepted). Used by gis/imports to read their files.
KIND_SYNONYMS: dict[str, dict[str, str]] = {
    "houses": {
        "一般损坏": "general_repair", "一般损坏房屋": "general_repair",
        "维修加固": "general_repair",
        "加固修缮": "general_repair", "修缮加固": "general_repair", "维修": "general_repair",
        "修缮": "general_repair", "倒塌": "self_rebuild", "严重损坏": "self_rebuild",
        "倒塌和严重损坏": "self_rebuild", "村民自建": "self_rebuild", "自建": "self_rebuild",
        "原址重建": "self_rebuild", "重建": "self_rebuild", "统建": "resettlement_site",
        "政府统建": "resettlement_site", "集中安置": "resettlement_site",
        "集中安置点": "resettlement_site", "安置区": "resettlement_site",
    },
    "water_works": {
        "小型水库": "reservoir", "中型水库": "reservoir", "堤防": "levee", "河堤": "levee",
        "堤坝": "levee", "河道堤防工程": "levee", "闸": "sluice", "涵闸": "sluice",
        "节制闸": "sluice", "供水": "water_supply", "农村供水": "water_supply",
        "饮水工程": "water_supply", "农村饮水": "water_supply", "供水工程": "water_supply",
        "灌区": "irrigation", "灌溉": "irrigation", "灌区工程": "irrigation", "渠道": "irrigation",
        "河道治理": "river_regulation", "清淤": "river_regulation", "河道清淤": "river_regulation",
    },
    "roads": {
        "县道": "county_road", "乡道": "township_road", "村道": "village_road",
        "通村公路": "village_road", "村组道路": "village_road",
    },
}  # fmt: skip

# A rural road's route number starts with its administrative class (JTG standard): X县道 Y乡道
# C村道, e.g. X012, Y105, C410781001.
ROUTE_LETTER_KINDS: dict[str, str] = {"X": "county_road", "Y": "township_road", "C": "village_road"}

# A house's kind from the damage survey: 一般损坏 is repaired; 倒塌 and 严重损坏 are rebuilt by
# the villagers, or at a resettlement site when the government builds (统建).
DAMAGE_KINDS: dict[str, str] = {
    "一般损坏": "general_repair", "轻微损坏": "general_repair", "中等损坏": "general_repair",
    "倒塌": "self_rebuild", "严重损坏": "self_rebuild", "全部倒塌": "self_rebuild",
    "部分倒塌": "self_rebuild",
}  # fmt: skip
GOVERNMENT_BUILT = ("统建", "政府", "集中安置", "安置区")

STAGE_SYNONYMS: dict[str, str] = {
    "未动工": "not_started", "前期": "preparatory_done", "前期工作完成": "preparatory_done",
    "前期已完成": "preparatory_done", "开工": "started", "在建": "started",
    "施工中": "started", "正在施工": "started", "完工": "completed", "竣工": "completed",
    "已竣工": "completed", "验收": "accepted", "已验收": "accepted", "竣工验收": "accepted",
    "具备入住条件": "accepted", "已入住": "accepted",
}  # fmt: skip
