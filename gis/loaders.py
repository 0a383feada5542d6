"""Loading reference data: county boundaries and the deadlines file."""

import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.crs import STORAGE_SRID
from gis.errors import InvalidInput
from gis.vocab import KINDS, LAYERS, STAGE_ORDER


def load_counties(session: Session, geojson: Path, names_en: Path) -> int:
    """Upsert county boundaries from a GeoJSON in CRS84 (lon/lat) with ``adcode`` and ``name``."""
    collection = json.loads(geojson.read_text(encoding="utf-8"))
    english = {str(k): v for k, v in tomllib.loads(names_en.read_text())["names_en"].items()}
    rows = []
    for feature in collection["features"]:
        props = feature["properties"]
        geom = shapely.geometry.shape(feature["geometry"])
        if geom.geom_type == "Polygon":
            geom = shapely.MultiPolygon([geom])
        if not geom.is_valid or geom.is_empty:
            raise InvalidInput(
                f"县界 {props.get('adcode')} 的几何无效：{shapely.is_valid_reason(geom)}",
                f"County {props.get('adcode')} has an invalid boundary: "
                f"{shapely.is_valid_reason(geom)}. Repair the file (e.g. ST_MakeValid) first.",
            )
        adcode = str(props["adcode"])
        rows.append(
            {
                "adcode": adcode,
                "zh": props["name"],
                "en": english.get(adcode, props["name"]),
                "wkb": shapely.to_wkb(geom, hex=True),
            }
        )
    session.execute(
        text(
            """
            INSERT INTO counties (adcode, name_zh, name_en, geom)
            VALUES (:adcode, :zh, :en, ST_SetSRID(ST_GeomFromWKB(decode(:wkb, 'hex')), :srid))
            ON CONFLICT (adcode) DO UPDATE
               SET name_zh = excluded.name_zh, name_en = excluded.name_en, geom = excluded.geom
            """
        ),
        [{**row, "srid": STORAGE_SRID} for row in rows],
    )
    return len(rows)


FIRST_DAY = dt.date(2021, 7, 17)  # the disaster: no deadline can fall before it


def check_rule(name: str, rule: dict[str, Any], milestones: set[str], where: str) -> dict:
    """One deadline rule, checked; returns it as the ``deadlines`` table's row. ``due`` is a
    date or the name of one of ``milestones``."""
    layer, kind, stage = rule.get("layer"), rule.get("kind"), rule.get("stage")
    if layer not in LAYERS:
        raise InvalidInput(
            f"{where}：图层 {layer!r} 不存在，可选 {', '.join(LAYERS)}",
            f"{where}: unknown layer {layer!r}; use one of {', '.join(LAYERS)}.",
            field="layer",
        )
    if kind is not None and kind not in {k.key for k in KINDS[layer]}:
        choices = ", ".join(k.key for k in KINDS[layer])
        raise InvalidInput(
            f"{where}：类别 {kind!r} 不属于图层 {layer}，可选 {choices}",
            f"{where}: kind {kind!r} is not a kind of {layer}; use one of {choices}.",
            field="kind",
        )
    if stage not in STAGE_ORDER:
        raise InvalidInput(
            f"{where}：阶段 {stage!r} 不存在，可选 {', '.join(STAGE_ORDER)}",
            f"{where}: unknown stage {stage!r}; use one of {', '.join(STAGE_ORDER)}.",
            field="stage",
        )
    due = rule.get("due")
    due_date = due if isinstance(due, dt.date) else None
    due_milestone = due if isinstance(due, str) else None
    if due_date is None and due_milestone not in milestones:
        raise InvalidInput(
            f"{where}：截止日期 {due!r} 应为日期（如 2021-11-30）或已定义的节点名",
            f"{where}: due {due!r} must be a date (e.g. 2021-11-30) or one of the "
            f"milestones {sorted(milestones)}.",
            field="due",
        )
    if due_date is not None and due_date < FIRST_DAY:
        raise InvalidInput(
            f"{where}：截止日期 {due_date} 早于灾害发生（{FIRST_DAY}）",
            f"{where}: due {due_date} is before the disaster ({FIRST_DAY}).",
            field="due",
        )
    return {
        "rule": name,
        "layer": layer,
        "kind": kind,
        "batch": rule.get("batch"),
        "stage": stage,
        "due_date": due_date,
        "due_milestone": due_milestone,
        "label_zh": rule["label_zh"],
        "label_en": rule["label_en"],
        "source": rule.get("source"),
    }


def read_deadlines(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse and check the deadlines file; returns (milestones, rules)."""
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    milestones = [{"name": name, **values} for name, values in doc.get("milestones", {}).items()]
    known = {m["name"] for m in milestones}
    rules = [
        check_rule(name, rule, known, f"{path.name} [rules.{name}]")
        for name, rule in doc.get("rules", {}).items()
    ]
    return milestones, rules


def load_deadlines(session: Session, path: Path) -> int:
    """Replace milestones and deadline rules with the file's; returns the number of rules."""
    milestones, rules = read_deadlines(path)
    before = rule_snapshots(session)
    session.execute(text("DELETE FROM deadlines"))
    session.execute(text("DELETE FROM milestones"))
    if milestones:
        session.execute(
            text(
                "INSERT INTO milestones (name, date, label_zh, label_en) "
                "VALUES (:name, :date, :label_zh, :label_en)"
            ),
            milestones,
        )
    if rules:
        session.execute(
            text(
                """
                INSERT INTO deadlines (rule, layer, kind, batch, stage, due_date, due_milestone,
                                       label_zh, label_en, source)
                VALUES (:rule, :layer, :kind, :batch, :stage, :due_date, :due_milestone,
                        :label_zh, :label_en, :source)
                """
            ),
            rules,
        )
    record_changes(session, before, rule_snapshots(session), by=None, via="cli")
    return len(rules)


_SNAPSHOT = text(
    """
    SELECT rule, json_build_object(
               'layer', layer, 'kind', kind, 'batch', batch, 'stage', stage,
               'due_date', due_date, 'due_milestone', due_milestone, 'due_on', due_on,
               'label_zh', label_zh, 'label_en', label_en, 'source', source)::jsonb
      FROM deadline_dates
    """
)


def rule_snapshots(session: Session) -> dict[str, dict[str, Any]]:
    """Every rule as it stands, by name (with its effective due date)."""
    return {name: snapshot for name, snapshot in session.execute(_SNAPSHOT)}


def record_changes(
    session: Session,
    before: dict[str, dict[str, Any]],
    after: dict[str, dict[str, Any]],
    *,
    by: int | None,
    via: str,
) -> int:
    """Keep every rule that was added, changed or removed, with who and how; returns how many."""
    changed = [
        {"rule": name, "before": before.get(name), "after": after.get(name), "by": by, "via": via}
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]
    if changed:
        session.execute(
            text(
                "INSERT INTO deadline_changes (changed_by, changed_via, rule, before, after) "
                "VALUES (:by, :via, :rule, CAST(:before AS jsonb), CAST(:after AS jsonb))"
            ),
            [{**c, "before": _json(c["before"]), "after": _json(c["after"])} for c in changed],
        )
    return len(changed)


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def deadline_rules(session: Session) -> list[Any]:
    """The deadline rules with their effective due dates (``due_on``), earliest first."""
    return session.execute(
        text(
            "SELECT rule, layer, kind, batch, stage, due_on, label_zh, label_en "
            "FROM deadline_dates ORDER BY due_on, rule"
        )
    ).all()
