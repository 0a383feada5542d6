"""The start page's numbers: each layer's deadline rules, for the city (the reader's counties)
and per county, as of a day, from the progress engine."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gis import progress as engine
from gis.access import ROLES, ROLES_EN, Principal
from gis.maps.build import month_steps
from gis.maps.text import county_status_labels
from gis.vocab import LAYERS


@dataclass(frozen=True)
class RuleFigures:
    """One rule: its city total (over the reader's counties) and its rows per county."""

    rule: str
    label: str
    due_on: dt.date
    total: engine.RuleProgress
    counties: list[engine.RuleProgress]


@dataclass(frozen=True)
class LayerFigures:
    layer: str
    name: str
    rules: list[RuleFigures]


@dataclass(frozen=True)
class Dashboard:
    as_of: dt.date
    before: dt.date | None
    after: dt.date | None
    who: str
    role: str
    layers: list[LayerFigures]
    status_label: dict[str, str]
    status_colour: dict[str, str]


def dashboard(session: Session, *, principal: Principal, as_of: dt.date, lang: str) -> Dashboard:
    """Headline figures per layer and rule for ``principal``'s counties as of ``as_of``."""
    rows = engine.progress(session, principal=principal, as_of=as_of)
    layers = []
    for key, term in LAYERS.items():
        rules = []
        for total in (r for r in rows if r.layer == key and r.county_adcode is None):
            rules.append(
                RuleFigures(
                    rule=total.rule,
                    label=total.label_zh if lang == "zh" else total.label_en,
                    due_on=total.due_on,
                    total=total,
                    counties=[r for r in rows if r.rule == total.rule and r.county_adcode],
                )
            )
        layers.append(LayerFigures(key, term.zh if lang == "zh" else term.en, rules))
    before, after = month_steps(as_of, today=engine.china_today())
    role = principal.role or ""
    return Dashboard(
        as_of=as_of,
        before=before,
        after=after,
        who=principal.display_name,
        role=(ROLES if lang == "zh" else ROLES_EN).get(role, role),
        layers=layers,
        status_label=county_status_labels(lang),
        status_colour=engine.STATUS_COLOUR,
    )
