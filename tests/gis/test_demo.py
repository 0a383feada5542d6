"""The demo data set: seeded and repeatable, inside the counties, timed against the deadlines, and
loaded with COPY in one transaction."""

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal

import geopandas as gpd
import numpy as np
import psycopg
import pytest
import shapely
from sqlalchemy import Connection, Engine, text

from gis import db, demo, loaders, provision
from gis.demo import binary
from gis.demo.data import TEXT, ZERO_IS_NULL
from gis.errors import Conflict
from gis.settings import Settings
from gis.vocab import LAYERS, STAGE_ORDER
from tests.conftest import Databases, test_db_name

SCALE = 0.02
NAMED_WORKS = {"卫河清淤", "共渠节制闸", "凤泉湖引黄调蓄收尾工程", "今冬明春农田水利设施"}


@pytest.fixture(scope="module")
def counties(engine: Engine) -> gpd.GeoDataFrame:
    return demo.read_counties(engine)


@pytest.fixture(scope="module")
def data(counties: gpd.GeoDataFrame, settings: Settings) -> demo.DemoData:
    return demo.generate(counties, scale=SCALE, seed=settings.demo_seed, data_dir=settings.data_dir)


@pytest.fixture
def pg(connection: Connection) -> psycopg.Connection:
    """The raw psycopg connection inside the test's rolled-back transaction."""
    return connection.connection.driver_connection


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind == "M":
        a, b = a.view(np.int64), b.view(np.int64)
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.all(a == b))


def _stage_ordinals(stages: np.ndarray) -> np.ndarray:
    return np.array([STAGE_ORDER[s] for s in stages.tolist()])


# --- generating ---------------------------------------------------------------------------


def test_same_seed_gives_identical_data(
    counties: gpd.GeoDataFrame, data: demo.DemoData, settings: Settings
) -> None:
    again = demo.generate(
        counties, scale=SCALE, seed=settings.demo_seed, data_dir=settings.data_dir
    )
    for table in ("assets", "events"):
        first, second = getattr(data, table), getattr(again, table)
        assert list(first) == list(second)
        for column in first:
            assert _same(first[column], second[column]), f"{table}.{column} differs"


def test_another_seed_gives_other_data(
    counties: gpd.GeoDataFrame, data: demo.DemoData, settings: Settings
) -> None:
    other = demo.generate(counties, scale=SCALE, seed=settings.demo_seed + 1)
    assert not np.array_equal(other.assets["geom"], data.assets["geom"])
    assert not np.array_equal(other.assets["name"], data.assets["name"])


def test_every_asset_lies_inside_its_county(
    counties: gpd.GeoDataFrame, data: demo.DemoData
) -> None:
    boundary = dict(zip(counties["adcode"], counties.geometry, strict=True))
    geoms = shapely.from_wkb(data.assets["geom"].astype(object))
    within = [boundary[a] for a in data.assets["county_adcode"].tolist()]
    assert shapely.is_valid(geoms).all()
    assert shapely.covers(within, geoms).all()


def test_geometry_types_fit_the_layers(data: demo.DemoData) -> None:
    geoms = shapely.from_wkb(data.assets["geom"].astype(object))
    types = shapely.get_type_id(geoms)
    houses = data.assets["layer"] == "houses"
    roads = data.assets["layer"] == "roads"
    assert (types[houses] == shapely.GeometryType.POINT).all()
    assert (types[roads] == shapely.GeometryType.LINESTRING).all()
    assert (shapely.get_srid(geoms) == 4326).all()
    km = shapely.length(geoms[roads]) * demo.M_PER_DEG_LAT / 1000
    assert km.min() > 0.2 and km.max() < 9


def test_volumes_scale_roughly_linearly(
    counties: gpd.GeoDataFrame, data: demo.DemoData, settings: Settings
) -> None:
    triple = demo.generate(counties, scale=3 * SCALE, seed=settings.demo_seed)
    small, large = data.counts(), triple.counts()
    config = demo.read_config(settings.data_dir)
    named = sum(len(work["counties"]) for work in config["named_works"])
    volumes = {layer: round(config["volumes"][layer] * SCALE) for layer in LAYERS}
    assert small == {**volumes, "water_works": volumes["water_works"] + named}
    for layer in LAYERS:
        assert 2.5 < large[layer] / small[layer] < 3.1, layer
    assert 2.5 < len(triple.events["id"]) / len(data.events["id"]) < 3.5


def test_the_named_works_exist(data: demo.DemoData) -> None:
    names = data.assets["name"].tolist()
    geoms = shapely.from_wkb(data.assets["geom"].astype(object))

    def the(name: str) -> int:
        (row,) = [i for i, n in enumerate(names) if n == name]
        return row

    weihe, gongqu, lake = the("卫河清淤"), the("共渠节制闸"), the("凤泉湖引黄调蓄收尾工程")
    assert data.assets["county_adcode"][[weihe, gongqu, lake]].tolist() == [
        "410781",
        "410781",
        "410704",
    ]
    assert geoms[weihe].geom_type == "LineString" and geoms[lake].geom_type == "Polygon"
    assert data.assets["kind"][[weihe, gongqu, lake]].tolist() == [
        "river_regulation",
        "sluice",
        "reservoir",
    ]
    farmland = [i for i, n in enumerate(names) if n.endswith("今冬明春农田水利设施")]
    assert len(set(data.assets["county_adcode"][farmland].tolist())) >= 3


def test_codes_are_unique_and_readable(data: demo.DemoData) -> None:
    codes = data.assets["code"].tolist()
    assert len(set(codes)) == len(codes)
    for code, layer, adcode in zip(
        codes, data.assets["layer"].tolist(), data.assets["county_adcode"].tolist(), strict=True
    ):
        assert re.fullmatch(rf"{LAYERS[layer].code_prefix}-{adcode}-\d{{5}}", code)
    assert (data.assets["id"] == np.arange(1, len(codes) + 1)).all()


def test_attributes_are_plausible(data: demo.DemoData) -> None:
    a = data.assets
    houses = a["layer"] == "houses"
    sites = a["kind"] == "resettlement_site"
    assert (
        sites.sum() >= 1
        and ((a["households"][sites] >= 20) & (a["households"][sites] <= 400)).all()
    )
    assert (a["households"][~sites] == 0).all()
    assert ((a["batch"] > 0) == (a["layer"] == "roads")).all()
    assert (a["funds_secured_wan"] <= a["planned_investment_wan"]).all()
    people = houses & ~sites
    assert all(
        re.fullmatch(r"1\d\d-0000-\d{4}", p) for p in a["householder_phone"][people].tolist()
    )
    assert all(2 <= len(n) <= 3 for n in a["householder_name"][people].tolist())
    weihui = a["county_adcode"] == "410781"
    assert a["worst_hit_area"][weihui].mean() > 0.6 > a["worst_hit_area"][~weihui].mean()


def test_events_move_forward_and_the_asset_shows_the_last(data: demo.DemoData) -> None:
    a, e = data.assets, data.events
    assert (np.diff(e["asset_id"]) >= 0).all()
    same_asset = np.diff(e["asset_id"]) == 0
    assert (np.diff(e["observed_at"])[same_asset] > np.timedelta64(0)).all()
    assert (np.diff(_stage_ordinals(e["stage"]))[same_asset] >= 0).all()
    assert (e["received_at"] >= e["observed_at"]).all()
    zero = np.isin(e["stage"], ["not_started", "preparatory_done"])
    full = np.isin(e["stage"], ["completed", "accepted"])
    assert (e["percent"][zero] == 0).all() and (e["percent"][full] == 100).all()
    assert ((e["percent"] >= 0) & (e["percent"] <= 100)).all()

    count = np.bincount(e["asset_id"], minlength=len(a["id"]) + 1)[a["id"]]
    assert (a["version"] == 1 + count).all()
    last = np.r_[np.flatnonzero(~same_asset), len(e["asset_id"]) - 1]
    reported = a["id"][count > 0] - 1
    assert (e["asset_id"][last] == a["id"][reported]).all()
    assert (a["stage"][reported] == e["stage"][last]).all()
    assert (a["percent"][reported] == e["percent"][last]).all()
    assert _same(a["stage_observed_at"][reported], e["observed_at"][last])
    assert _same(a["updated_at"][reported], e["received_at"][last])
    silent = count == 0
    assert silent.any() and (a["stage"][silent] == "not_started").all()
    assert np.isnat(a["stage_observed_at"][silent]).all()


def test_reports_come_in_local_daytime_after_the_flood(data: demo.DemoData) -> None:
    local = data.events["observed_at"] + demo.SHANGHAI
    hours = (local - local.astype("datetime64[D]")).astype("timedelta64[h]").astype(int)
    assert ((hours >= 8) & (hours < 18)).all()
    assert local.min() >= np.datetime64("2021-08-01")
    assert local.max() < np.datetime64("2022-09-01")
    ids = data.events["id"]
    assert len({bytes(row) for row in ids}) == len(ids)
    assert all(uuid.UUID(bytes=bytes(row)).version == 4 for row in ids[:50])


def test_most_work_meets_its_deadline_some_is_late_some_unfinished(
    counties: gpd.GeoDataFrame, settings: Settings
) -> None:
    data = demo.generate(counties, scale=0.1, seed=settings.demo_seed)
    _, rules = loaders.read_deadlines(settings.data_dir / "deadlines.toml")
    rule = next(r for r in rules if r["kind"] == "general_repair")
    due_end = np.datetime64(rule["due_date"]) + np.timedelta64(1, "D") - demo.SHANGHAI
    houses = data.assets["kind"] == "general_repair"
    ids = data.assets["id"][houses]
    e = data.events
    done = np.isin(e["asset_id"], ids) & (e["stage"] == "completed")
    on_time = np.isin(ids, e["asset_id"][done & (e["observed_at"] < due_end)]).mean()
    ever = np.isin(ids, e["asset_id"][done]).mean()
    assert 0.72 < on_time < 0.9
    assert 0.9 < ever < 0.995


def test_roads_in_prioritised_areas_come_first(
    counties: gpd.GeoDataFrame, settings: Settings
) -> None:
    a = demo.generate(counties, scale=1, seed=settings.demo_seed).assets
    roads = a["layer"] == "roads"
    priority = roads & (a["poverty_alleviated_area"] | a["worst_hit_area"])
    first_batch = a["batch"] == 1
    assert first_batch[priority].mean() > first_batch[roads & ~priority].mean() + 0.2
    assert 0.45 < first_batch[roads].mean() < 0.65


def test_summary_names_the_volumes() -> None:
    report = demo.DemoReport({"houses": 30_000, "water_works": 1_500, "roads": 800}, 95_000, 3.2)
    assert report.summary() == (
        "已载入演示数据：农村住房 30,000、水毁水利设施 1,500、水毁农村公路 800，"
        "进度记录 95,000 条，用时 3.2 秒\n"
        "loaded 30,000 houses, 1,500 water works, 800 roads and 95,000 events in 3.2 s "
        "(10,094 features/s)"
    )


# --- loading ------------------------------------------------------------------------------


def _schema(pg: psycopg.Connection) -> list[tuple]:
    """The keys, foreign keys and indexes of every table, as PostgreSQL defines them."""
    return pg.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
          FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        UNION ALL
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
         ORDER BY 1, 2, 3
        """
    ).fetchall()


def _as_loaded(column: str, values: np.ndarray) -> list:
    """A generated asset column as psycopg reads it back: NULL for '', NaT and ZERO_IS_NULL's 0,
    amounts as decimals to the cent, times in UTC."""
    if values.dtype.kind == "f":
        return [Decimal(f"{v:.2f}") for v in np.round(values, 2).tolist()]
    if values.dtype.kind == "M":
        return [None if t is None else t.replace(tzinfo=dt.UTC) for t in values.tolist()]
    if values.dtype == TEXT or column in ZERO_IS_NULL:
        return [v or None for v in values.tolist()]
    return values.tolist()


def test_load_writes_the_data_as_generated(pg: psycopg.Connection, data: demo.DemoData) -> None:
    schema = _schema(pg)
    report = demo.load_data(pg, [data])
    assert report.counts == data.counts()
    assert (
        report.events
        == len(data.events["id"])
        == pg.execute("SELECT count(*) FROM asset_events").fetchone()[0]
    )
    assert _schema(pg) == schema
    outside = pg.execute(
        """SELECT count(*) FROM assets a JOIN counties c ON c.adcode = a.county_adcode
            WHERE NOT ST_Covers(c.geom, a.geom)"""
    ).fetchone()[0]
    assert outside == 0
    columns = list(data.assets)
    select = ", ".join(
        "upper(encode(ST_AsEWKB(geom, 'NDR'), 'hex'))" if c == "geom" else c for c in columns
    )
    loaded = zip(*pg.execute(f"SELECT {select} FROM assets ORDER BY id").fetchall(), strict=True)
    for column, values in zip(columns, loaded, strict=True):
        assert list(values) == _as_loaded(column, data.assets[column]), column
    first_event = uuid.UUID(bytes=bytes(data.events["id"][0]))
    assert pg.execute("SELECT asset_id FROM asset_events WHERE id = %s", (first_event,)).fetchone()[
        0
    ] == int(data.events["asset_id"][0])


def test_loaded_assets_show_their_last_event(pg: psycopg.Connection, data: demo.DemoData) -> None:
    demo.load_data(pg, [data])
    mismatched = pg.execute(
        """
        SELECT count(*)
          FROM assets a
          LEFT JOIN LATERAL (SELECT * FROM asset_events e WHERE e.asset_id = a.id
                              ORDER BY e.observed_at DESC LIMIT 1) e ON true
         WHERE a.stage <> coalesce(e.stage, 'not_started')
            OR a.percent <> coalesce(e.percent, 0)
            OR a.stage_observed_at IS DISTINCT FROM e.observed_at
            OR a.updated_at <> coalesce(e.received_at, a.created_at)
            OR a.version <> 1 + (SELECT count(*) FROM asset_events x WHERE x.asset_id = a.id)
        """
    ).fetchone()[0]
    assert mismatched == 0
    next_id = pg.execute("SELECT nextval(pg_get_serial_sequence('assets', 'id'))").fetchone()[0]
    assert next_id == len(data.assets["id"]) + 1


def test_second_load_is_refused_and_changes_nothing(
    pg: psycopg.Connection, data: demo.DemoData
) -> None:
    demo.load_data(pg, [data])
    before = pg.execute("SELECT count(*), max(updated_at) FROM assets").fetchone()
    with pytest.raises(Conflict) as refused:
        demo.load_data(pg, [data])
    assert "--replace" in refused.value.zh and "--replace" in refused.value.en
    assert pg.execute("SELECT count(*), max(updated_at) FROM assets").fetchone() == before


def test_replace_swaps_the_data_and_keeps_history_append_only(
    pg: psycopg.Connection, counties: gpd.GeoDataFrame, data: demo.DemoData
) -> None:
    demo.load_data(pg, [data])
    other = demo.generate(counties, scale=SCALE / 2, seed=7)
    demo.load_data(pg, [other], replace=True)
    assert pg.execute("SELECT count(*) FROM assets").fetchone()[0] == len(other.assets["id"])
    with pytest.raises(psycopg.errors.RestrictViolation), pg.transaction():
        pg.execute("DELETE FROM asset_events")


def test_a_failed_load_leaves_nothing_behind(pg: psycopg.Connection, data: demo.DemoData) -> None:
    schema = _schema(pg)
    # Move the last asset into another county: the database must reject the whole load.
    assets = dict(data.assets, county_adcode=data.assets["county_adcode"].copy())
    assets["county_adcode"][-1] = "410702" if assets["county_adcode"][-1] != "410702" else "410783"
    with pytest.raises(psycopg.errors.CheckViolation), pg.transaction():
        demo.load_data(pg, [demo.DemoData(assets, data.events)])
    assert pg.execute("SELECT count(*) FROM assets").fetchone()[0] == 0
    assert _schema(pg) == schema


def _round_trip(pg: psycopg.Connection, sql_type: str, values: np.ndarray) -> list:
    """``values`` written with binary COPY into a column of ``sql_type``, read back as text."""
    pg.execute(f"CREATE TEMP TABLE round_trip (i bigint, v {sql_type})")
    with pg.cursor().copy("COPY round_trip FROM STDIN (FORMAT binary)") as copy:
        copy.write(binary.SIGNATURE)
        copy.write(binary.rows({"i": np.arange(len(values)), "v": values}).tobytes())
        copy.write(binary.TRAILER)
    return [v for (v,) in pg.execute("SELECT v::text FROM round_trip ORDER BY i")]


def test_amounts_come_back_to_the_cent(pg: psycopg.Connection) -> None:
    rng = np.random.default_rng(0)
    edges = [0, 0.01, 0.1, 9999.99, 10_000, 123456.78, 999_999_999_999.99, -0.01, -123456.78]
    amounts = np.r_[edges, rng.uniform(0, 1e7, 1000).round(2), rng.uniform(0, 100, 1000)]
    expected = [f"{v:.2f}" for v in np.round(amounts, 2).tolist()]
    assert _round_trip(pg, "numeric(14, 2)", amounts) == expected
    for too_large in (1e12, np.nan):
        with pytest.raises(ValueError, match="numeric"):
            binary.rows({"v": np.array([too_large])})


def test_text_comes_back_in_any_script_and_empty_as_null(pg: psycopg.Connection) -> None:
    text_values = ["", "plain", "新乡县", "Café №5 — 𝄞"]
    assert _round_trip(pg, "text", np.array(text_values, dtype=TEXT)) == [None, *text_values[1:]]


@pytest.fixture(scope="module")
def throwaway(databases: Databases, settings: Settings) -> Iterator[Engine]:
    """A database of this module's own, for loads that commit."""
    name = test_db_name("_demo")
    url = databases.create(name)
    db.migrate(url)
    engine = db.make_engine(url)
    provision.load_reference(engine, settings)
    yield engine
    engine.dispose()
    databases.drop(name)


def test_load_demo_commits_once_and_refuses_a_second_time(
    throwaway: Engine, settings: Settings
) -> None:
    report = demo.load_demo(throwaway, settings, scale=SCALE)
    assert report.summary().splitlines()[1].startswith("loaded 600 houses")
    expected = demo.generate(demo.read_counties(throwaway), scale=SCALE, seed=settings.demo_seed)
    assert report.counts == expected.counts() and report.events == len(expected.events["id"])
    with throwaway.connect() as conn:
        loaded = conn.execute(
            text(
                "SELECT string_agg(upper(encode(ST_AsEWKB(geom, 'NDR'), 'hex')), ',' ORDER BY id)"
                " FROM assets"
            )
        ).scalar_one()
    assert loaded == ",".join(expected.assets["geom"].tolist())
    with pytest.raises(Conflict):
        demo.load_demo(throwaway, settings, scale=SCALE)
    with throwaway.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assets")).scalar_one() == sum(
            report.counts.values()
        )
    replaced = demo.load_demo(throwaway, settings, scale=SCALE / 2, seed=1, replace=True)
    with throwaway.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assets")).scalar_one() == sum(
            replaced.counts.values()
        )


def test_load_tallies_progress_and_leaves_the_triggers_on(
    pg: psycopg.Connection, data: demo.DemoData
) -> None:
    demo.load_data(pg, [data])
    by_stage = "SELECT stage, sum(assets) FROM progress_tallies GROUP BY 1 HAVING sum(assets) <> 0"
    assets = dict(pg.execute("SELECT stage, count(*) FROM assets GROUP BY 1").fetchall())
    assert dict(pg.execute(by_stage).fetchall()) == assets
    bare = pg.execute("SELECT id FROM assets WHERE stage = 'not_started' LIMIT 1").fetchone()[0]
    pg.execute(
        "INSERT INTO asset_events (id, asset_id, stage, percent, observed_at) "
        "VALUES (%s, %s, 'started', 5, now())",
        (uuid.uuid4(), bare),
    )
    moved = dict(pg.execute(by_stage).fetchall())
    assert moved["not_started"] == assets["not_started"] - 1
    assert moved["started"] == assets.get("started", 0) + 1
