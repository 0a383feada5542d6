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
