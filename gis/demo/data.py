"""The demo data set as the generator makes it and the loader writes it: columns of numpy arrays."""

from dataclasses import dataclass

import numpy as np
from numpy.dtypes import StringDType

from gis.vocab import LAYERS, STAGES

Columns = dict[str, np.ndarray]
TEXT = StringDType()

STAGE_NAMES = np.array([s.key for s in STAGES], dtype=TEXT)
ZERO_IS_NULL = ("batch", "households")  # their CHECKs rule 0 out, so 0 stands for NULL here


@dataclass(frozen=True)
class DemoData:
    """Assets and events as columns named like the tables' (NULL is '' in text columns and 0 in
    ZERO_IS_NULL). Geometries are hex EWKB; times are UTC ``datetime64[us]``; event ids are
    UUIDs as rows of 16 bytes."""

    assets: Columns
    events: Columns

    def counts(self) -> dict[str, int]:
        return {layer: int(np.sum(self.assets["layer"] == layer)) for layer in LAYERS}


def concat(tables: list[Columns]) -> Columns:
    """The tables' rows one after the other, column by column."""
    if len(tables) == 1:
        return tables[0]
    return {key: np.concatenate([t[key] for t in tables]) for key in tables[0]}
