"""Evidence rules (``data/evidence.toml``): what a report must carry for its layer and stage."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from gis.errors import InvalidInput
from gis.vocab import LAYERS, STAGE_ORDER


@dataclass(frozen=True)
class EvidenceRule:
    label_zh: str
    label_en: str
    layers: frozenset[str]
    stages: frozenset[str]
    min_photos: int = 0
    needs_location: bool = False
    photo_within_m: float | None = None

    def applies(self, layer: str, stage: str) -> bool:
        return layer in self.layers and stage in self.stages


def read_rules(path: Path) -> tuple[EvidenceRule, ...]:
    """Parse and check the evidence file; a missing file means no rules."""
    if not path.exists():
        return ()
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    rules = []
    for number, raw in enumerate(doc.get("rules", []), start=1):
        where = f"{path.name} rules[{number}]"
        layers = frozenset(raw.get("layers", LAYERS))
        stages = frozenset(raw.get("stages", ()))
        unknown = sorted((layers - set(LAYERS)) | (stages - set(STAGE_ORDER)))
        if unknown or not stages:
            raise InvalidInput(
                f"{where}：未知的图层或阶段 {unknown}，或未列出阶段",
                f"{where}: unknown layers/stages {unknown}, or no stages listed. Layers: "
                f"{', '.join(LAYERS)}; stages: {', '.join(STAGE_ORDER)}.",
            )
        rules.append(
            EvidenceRule(
                label_zh=raw.get("label_zh", where),
                label_en=raw.get("label_en", where),
                layers=layers,
                stages=stages,
                min_photos=int(raw.get("min_photos", 0)),
                needs_location=bool(raw.get("needs_location", False)),
                photo_within_m=raw.get("photo_within_m"),
            )
        )
    return tuple(rules)


def rules_for(rules: tuple[EvidenceRule, ...], layer: str, stage: str) -> list[EvidenceRule]:
    return [r for r in rules if r.applies(layer, stage)]
