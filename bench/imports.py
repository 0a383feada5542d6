"""Importing a county inventory at scale: a GeoPackage of generated houses (gis/demo), imported
by `gis.imports.import_inventory` into a fresh database of its own, end to end (reading the file,
checking every row, staging, writing, committing). Issue 9's aim: 100,000 features/s.

``measure(settings, features=1_000_000, runs=3)`` is called by the bench harness; ``python -m
bench.imports [features] [runs]`` runs it alone.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from gis import db, demo, localdb, provision
from gis.imports import ImportOptions, import_inventory
from gis.settings import Settings

NAME = "rebuild_bench_imports"
AIM_PER_S = 100_000
HOUSES_AT_SCALE_1 = 30_000
COLUMNS = (
    "code", "kind", "county_adcode", "town", "village", "name", "households",
    "planned_investment_wan", "funds_secured_wan", "poverty_alleviated_area", "worst_hit_area",
    "householder_name", "householder_phone", "stage", "percent",
)  # fmt: skip


def write_geopackage(url: str, path: Path, features: int, seed: int = 20210720) -> int:
    """Houses of the demo data set, about ``features`` of them, as a GeoPackage in EPSG:4326
    with the tracker's column names; returns how many."""
    counties = demo.read_counties(db.make_engine(url))
    data = demo.generate(counties, scale=features / HOUSES_AT_SCALE_1, seed=seed)
    assets = data.assets
    houses = assets["layer"] == "houses"
    columns = {c: np.asarray(assets[c][houses]) for c in COLUMNS if c in assets}
    frame = gpd.GeoDataFrame(
        {c: (v.astype(object) if v.dtype.kind == "T" else v) for c, v in columns.items()},
        geometry=shapely.from_wkb(assets["geom"][houses].astype(object)),
        crs=4326,
    )
    frame["households"] = frame["households"].where(frame["households"] > 0)
    for c in ("householder_name", "householder_phone"):
        frame[c] = frame[c].replace("", None)
    frame.to_file(path, layer="houses", driver="GPKG", engine="pyogrio")
    return len(frame)


def _fresh(settings: Settings) -> str:
    cluster = localdb.up(settings)
    db.make_engine(localdb.ensure_database(cluster, NAME)).dispose()  # the cached engine's pool
    localdb.drop_database(cluster, NAME)
    url = localdb.ensure_database(cluster, NAME)
    db.migrate(url)
    provision.load_reference(db.make_engine(url), Settings(database_url=url))
    return url


def measure(settings: Settings | str, features: int = 1_000_000, runs: int = 3) -> dict[str, Any]:
    """Seconds and features/s per run, each into a fresh database; the file is written once."""
    settings = Settings(database_url=None) if isinstance(settings, str) else settings
    seconds, steps = [], []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "houses.gpkg"
        try:
            url = _fresh(settings)
            count = write_geopackage(url, path, features)
            file_mb = round(path.stat().st_size / 1e6, 1)
            for _ in range(runs):
                url = _fresh(settings)
                marks: list[tuple[str, float]] = []
                step = marks.append
                started = time.perf_counter()
                with db.transaction(db.make_engine(url)) as session:
                    summary = import_inventory(
                        session, path=path, layer="houses", options=ImportOptions(),
                        step=lambda name, step=step: step((name, time.perf_counter())),
                    )  # fmt: skip
                seconds.append(time.perf_counter() - started)
                ends = [t for _, t in marks[1:]] + [started + seconds[-1]]
                steps.append(
                    {
                        n.split(" ", 1)[1]: round(e - t, 2)
                        for (n, t), e in zip(marks, ends, strict=True)
                    }
                )
                assert summary.created == count, summary.text()
                db.make_engine(url).dispose()
        finally:
            cluster = localdb.up(settings)
            db.make_engine(localdb.ensure_database(cluster, NAME)).dispose()
            localdb.drop_database(cluster, NAME)
    median = statistics.median(seconds)
    return {
        "features": count,
        "file_mb": file_mb,
        "seconds": [round(s, 2) for s in seconds],
        "median_s": round(median, 2),
        "features_per_s": round(count / median),
        "aim_per_s": AIM_PER_S,
        "steps_s": steps,
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(measure(Settings(database_url=None), n, int(sys.argv[2]) if len(sys.argv) > 2 else 1))
