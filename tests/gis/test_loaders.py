"""Reference data goes in through the product's loaders: real county boundaries, deadlines."""

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.loaders import load_counties, read_deadlines

ADCODES = {
    "410702": "红旗区", "410703": "卫滨区", "410704": "凤泉区", "410711": "牧野区",
    "410721": "新乡县", "410724": "获嘉县", "410725": "原阳县", "410726": "延津县",
    "410727": "封丘县", "410781": "卫辉市", "410782": "辉县市", "410783": "长垣市",
}  # fmt: skip


def test_twelve_real_counties_are_loaded(session: Session) -> None:
    rows = session.execute(text("SELECT adcode, name_zh, name_en FROM counties")).all()
    assert {r.adcode: r.name_zh for r in rows} == ADCODES
    assert all(r.name_en and r.name_en != r.name_zh for r in rows)


def test_county_union_matches_the_city_area(session: Session) -> None:
    # PROVENANCE.md: the 12 polygons union to the city polygon of 8,275.9 km².
    km2 = session.execute(
        text("SELECT ST_Area(ST_Union(geom)::geography) / 1e6 FROM counties")
    ).scalar_one()
    assert km2 == pytest.approx(8275.9, rel=0.005)


def test_reloading_counties_is_idempotent(session: Session, data_dir: Path) -> None:
    assert (
        load_counties(session, data_dir / "xinxiang_counties.geojson", data_dir / "counties.toml")
        == 12
    )
    assert session.execute(text("SELECT count(*) FROM counties")).scalar_one() == 12


def test_invalid_boundary_is_refused(session: Session, tmp_path: Path, data_dir: Path) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    bad = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"adcode": "410781", "name": "卫辉市"},
             "geometry": bowtie}
        ],
    }  # fmt: skip
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(bad))
    with pytest.raises(InvalidInput) as caught:
        load_counties(session, path, data_dir / "counties.toml")
    assert "410781" in caught.value.zh


def test_deadlines_hold_the_speech_milestones(session: Session) -> None:
    rules = dict(session.execute(text("SELECT rule, due_on FROM deadline_dates")).all())
    assert set(rules) >= {
        "houses_general_repair",
        "houses_self_rebuild",
        "houses_resettlement",
        "water_started",
        "water_completed",
        "roads_batch1_started",
        "roads_batch2_preparatory",
        "roads_completed",
    }
    flood = session.execute(
        text("SELECT date FROM milestones WHERE name = 'flood_season_start'")
    ).scalar_one()
    assert rules["water_completed"] < flood


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ('layer = "bridges"\nstage = "completed"\ndue = 2022-01-01', "bridges"),
        ('layer = "roads"\nstage = "done"\ndue = 2022-01-01', "done"),
        ('layer = "roads"\nkind = "levee"\nstage = "completed"\ndue = 2022-01-01', "levee"),
        ('layer = "roads"\nstage = "completed"\ndue = "next_spring"', "next_spring"),
    ],
)
def test_bad_deadlines_file_says_where(tmp_path: Path, rule: str, words: str) -> None:
    path = tmp_path / "deadlines.toml"
    path.write_text(f'[rules.broken]\nlabel_zh = "x"\nlabel_en = "x"\n{rule}\n')
    with pytest.raises(InvalidInput) as caught:
        read_deadlines(path)
    assert "[rules.broken]" in caught.value.zh
    assert words in caught.value.zh
