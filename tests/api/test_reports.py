"""POST /assets/{id}/reports: If-Match, the stage machine, evidence, location and flags."""

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.assets import create_asset
from gis.crs import wgs84_to_gcj02
from gis.errors import PreconditionRequired
from tests.api.conftest import Person
from tests.samples import HONGQI_HOUSE, IN_WEIHUI, WEIHUI_HOUSE, jpeg

NOW = dt.datetime.now(dt.UTC)
HERE = {"lon": IN_WEIHUI.x, "lat": IN_WEIHUI.y, "crs": "EPSG:4326", "accuracy_m": 8}


def ago(days: float = 0, **kw) -> str:
    return (NOW - dt.timedelta(days=days, **kw)).isoformat()


@pytest.fixture
def house(session: Session) -> int:
    return create_asset(session, asset_in=WEIHUI_HOUSE)


@pytest.fixture
def hongqi_house(session: Session) -> int:
    return create_asset(session, asset_in=HONGQI_HOUSE)


def version_of(client: TestClient, person: Person, asset_id: int) -> str:
    return client.get(f"/assets/{asset_id}", headers=person.headers).headers["etag"]


def report(client: TestClient, person: Person, asset_id: int, etag: str | None = None, **body):
    body.setdefault("observed_at", ago(minutes=5))
    tag = etag if etag is not None else version_of(client, person, asset_id)
    return client.post(
        f"/assets/{asset_id}/reports",
        json=body,
        headers={**person.headers, "If-Match": tag},
    )


def photo(client: TestClient, person: Person, seed: int = 1, **gps) -> str:
    files = {"file": ("site.jpg", jpeg(seed, **gps), "image/jpeg")}
    response = client.post("/photos", files=files, headers=person.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


def events(session: Session, asset_id: int) -> list:
    return session.execute(
        text("SELECT * FROM asset_events WHERE asset_id = :a ORDER BY received_at, observed_at"),
        {"a": asset_id},
    ).all()


def state(session: Session, asset_id: int) -> tuple:
    return session.execute(
        text("SELECT stage, percent, version FROM assets WHERE id = :a"), {"a": asset_id}
    ).one()


def test_an_accepted_report_updates_the_state_and_version_together(
    client: TestClient, people: dict[str, Person], session: Session, house: int
) -> None:
    inspector = people["inspector_weihui"]
    response = report(client, inspector, house, stage="preparatory_done", percent=0)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "applied"
    assert response.headers["etag"] == '"2"'
    assert body["asset"]["properties"]["stage"] == "preparatory_done"
    assert body["report"]["reporter"]["username"] == "inspector-weihui"
    assert (body["report"]["prev_stage"], body["report"]["stage"]) == (
        "not_started",
        "preparatory_done",
    )
    assert state(session, house) == ("preparatory_done", 0, 2)
    assert len(events(session, house)) == 1


def test_if_match_is_required(client: TestClient, people: dict[str, Person], house: int) -> None:
    response = client.post(
        f"/assets/{house}/reports",
        json={"stage": "preparatory_done", "percent": 0, "observed_at": ago(1)},
        headers=people["inspector_weihui"].headers,
    )
    assert response.status_code == 428
    assert response.json()["field"] == "If-Match" and "If-Match" in response.json()["message"]
    star = report(client, people["inspector_weihui"], house, etag="*", stage="started", percent=1)
    assert star.status_code == 428


def test_if_match_takes_only_ascii_digits() -> None:
    from api.routes.reports import _if_match

    assert _if_match('"3"') == 3
    with pytest.raises(PreconditionRequired):
        _if_match('"\u0663"')  # Arabic-Indic three: a digit to \\d, not a version


def test_a_stale_version_gets_412_with_the_current_state(
    client: TestClient, people: dict[str, Person], session: Session, house: int
) -> None:
    inspector = people["inspector_weihui"]
    assert report(client, inspector, house, stage="preparatory_done", percent=0).status_code == 201
    stale = report(client, inspector, house, etag='"1"', stage="preparatory_done", percent=0)
    assert stale.status_code == 412
    body = stale.json()
    assert body["error"] == "version_mismatch" and "第 1 版" in body["message"]
    assert body["current"]["properties"]["version"] == 2
    assert len(events(session, house)) == 1


def test_a_resent_report_counts_once(
    client: TestClient, people: dict[str, Person], session: Session, house: int
) -> None:
    inspector = people["inspector_weihui"]
    report_id = str(uuid.uuid4())
    first = report(
        client, inspector, house, etag='"1"', id=report_id, stage="preparatory_done", percent=0
    )
    assert first.status_code == 201
    # The answer was lost on the way; the phone sends the same report again, same If-Match.
    again = report(
        client, inspector, house, etag='"1"', id=report_id, stage="preparatory_done", percent=0
    )
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert state(session, house)[2] == 2 and len(events(session, house)) == 1


def test_a_report_id_cannot_be_reused_for_another_asset(
    client: TestClient, people: dict[str, Person], session: Session, house: int
) -> None:
    other = create_asset(session, asset_in=WEIHUI_HOUSE.__class__(
        **{**WEIHUI_HOUSE.__dict__, "code": "FW-410781-90002"}
    ))  # fmt: skip
    inspector, report_id = people["inspector_weihui"], str(uuid.uuid4())
    assert report(client, inspector, house, id=report_id, stage="preparatory_done", percent=0)
    reused = report(client, inspector, other, id=report_id, stage="preparatory_done", percent=0)
    assert reused.status_code == 422 and reused.json()["field"] == "id"


def test_progress_cannot_go_back_without_a_reason(
    client: TestClient, people: dict[str, Person], session: Session, house: int
) -> None:
    inspector = people["inspector_weihui"]
    pic = photo(client, inspector)
    forward = report(
        client, inspector, house, stage="started", percent=40, photos=[pic], location=HERE
    )
    assert forward.status_code == 201, forward.text
    back = report(
        client, inspector, house, stage="started", percent=20, photos=[pic], location=HERE
    )
    assert back.status_code == 422
    assert back.json()["field"] == "reason" and "原因" in back.json()["message"]
    assert len(events(session, house)) == 1
    reasoned = report(
        client, inspector, house, stage="not_started", percent=0, reason="再次被水冲毁"
    )
    assert reasoned.status_code == 201
    assert reasoned.json()["report"]["flags"] == ["backwards"]
    assert state(session, house)[:2] == ("not_started", 0)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"stage": "started", "percent": 30}, "photos", "照片"),
        ({"stage": "finished", "percent": 100}, "stage", "阶段"),
        ({"stage": "completed", "percent": 90}, "percent", "100"),
        ({"stage": "preparatory_done", "percent": 10}, "percent", "0"),
        ({"stage": "preparatory_done", "percent": 101}, "percent", "100"),
        (
            {"stage": "preparatory_done", "percent": 0, "observed_at": ago(-1)},
            "observed_at",
            "将来",
        ),
        (
            {"stage": "preparatory_done", "percent": 0, "observed_at": "2021-07-01T08:00:00+08:00"},
            "observed_at",
            "灾害",
        ),
        (
            {"stage": "preparatory_done", "percent": 0, "observed_at": "2022-03-01T08:00:00"},
            "observed_at",
            "时区",
        ),
        ({"stage": "preparatory_done", "percent": 0, "version": 9}, "version", ""),
        (
            {"stage": "preparatory_done", "percent": 0, "county_adcode": "410702"},
            "county_adcode",
            "",
        ),
        (
            {"stage": "preparatory_done", "percent": 0, "location": {"lon": 35.4, "lat": 114.07}},
            "location.lat",
            "",
        ),
        (
            {
                "stage": "preparatory_done",
                "percent": 0,
                "location": {**HERE, "crs": "EPSG:3857"},
            },
            "location.crs",
            "GCJ-02",
        ),
        ({"stage": "preparatory_done", "percent": 0, "photos": ["0" * 64]}, "photos", "上传"),
    ],
)
def test_bad_reports_are_refused_with_what_to_fix_and_nothing_is_stored(
    client: TestClient,
    people: dict[str, Person],
    session: Session,
    house: int,
    body: dict,
    field: str,
    words: str,
) -> None:
    response = report(client, people["inspector_weihui"], house, **body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert set(problem) >= {"error", "message", "message_en", "field"}
    assert problem["field"] == field and words in problem["message"]
    assert events(session, house) == [] and state(session, house) == ("not_started", 0, 1)


def test_evidence_needs_a_position_from_the_reporter_or_the_photo(
    client: TestClient, people: dict[str, Person], house: int
) -> None:
    inspector = people["inspector_weihui"]
    bare = photo(client, inspector, seed=2)
    refused = report(client, inspector, house, stage="started", percent=10, photos=[bare])
    assert refused.status_code == 422 and refused.json()["field"] == "location"
    geotagged = photo(client, inspector, seed=3, lon=IN_WEIHUI.x, lat=IN_WEIHUI.y)
    accepted = report(client, inspector, house, stage="started", percent=10, photos=[geotagged])
    assert accepted.status_code == 201 and accepted.json()["report"]["flags"] == []


def test_far_away_reports_are_stored_but_flagged(
    client: TestClient, people: dict[str, Person], house: int
) -> None:
    inspector = people["inspector_weihui"]
    far_photo = photo(client, inspector, seed=4, lon=IN_WEIHUI.x + 0.02, lat=IN_WEIHUI.y)
    far = {**HERE, "lon": IN_WEIHUI.x + 0.01}  # about 900 m east
    response = report(
        client, inspector, house, stage="started", percent=10, photos=[far_photo], location=far
    )
    assert response.status_code == 201
    flagged = response.json()["report"]
    assert flagged["flags"] == ["far_away", "exif_mismatch"]
    assert 850 < flagged["distance_m"] < 960
    assert flagged["photos"][0]["distance_m"] > 1700
    listed = client.get("/reports?flagged=true", headers=people["manager_weihui"].headers).json()
    assert [r["id"] for r in listed["reports"]] == [flagged["id"]]


def test_gcj02_positions_are_converted_before_measuring(
    client: TestClient, people: dict[str, Person], house: int
) -> None:
    """A phone map app's GCJ-02 reading at the house is ~500 m off in WGS 84 terms: declared as
    GCJ-02 it is converted and lands on the house; its raw numbers are kept with the report."""
    lon, lat = wgs84_to_gcj02(IN_WEIHUI.x, IN_WEIHUI.y)
    gcj = {"lon": lon, "lat": lat, "crs": "gcj02"}
    response = report(client, people["inspector_weihui"], house, stage="preparatory_done",
                      percent=0, location=gcj)  # fmt: skip
    saved = response.json()["report"]
    assert saved["distance_m"] < 1 and saved["flags"] == []
    assert saved["location"]["crs"] == "GCJ-02" and saved["location"]["lon"] == lon
    assert saved["location"]["wgs84"] == pytest.approx([IN_WEIHUI.x, IN_WEIHUI.y], abs=1e-6)
    as_wgs = {"lon": lon, "lat": lat, "crs": "EPSG:4326"}
    wrong = report(client, people["inspector_weihui"], house, stage="preparatory_done",
                   percent=0, location=as_wgs)  # fmt: skip
    assert wrong.json()["report"]["distance_m"] > 300


def test_no_report_outside_ones_counties_or_role(
    client: TestClient, people: dict[str, Person], session: Session, hongqi_house: int
) -> None:
    body = {"stage": "preparatory_done", "percent": 0, "observed_at": ago(1)}
    for who in ("inspector_weihui", "manager_weihui", "viewer"):
        response = client.post(
            f"/assets/{hongqi_house}/reports",
            json=body,
            headers={**people[who].headers, "If-Match": '"1"'},
        )
        assert response.status_code == 403, who
        assert response.json()["error"] == "forbidden"
    assert events(session, hongqi_house) == []
    ok = report(client, people["inspector_hongqi"], hongqi_house, **body)
    assert ok.status_code == 201


def test_an_older_observation_joins_the_history_without_changing_the_state(
    client: TestClient, people: dict[str, Person], session: Session, house: int
) -> None:
    inspector = people["inspector_weihui"]
    pic = photo(client, inspector)
    assert report(client, inspector, house, stage="started", percent=50, photos=[pic],
                  location=HERE, observed_at=ago(1)).status_code == 201  # fmt: skip
    older = report(client, inspector, house, stage="started", percent=20, photos=[pic],
                   location=HERE, observed_at=ago(5))  # fmt: skip
    assert older.status_code == 201 and older.json()["status"] == "superseded"
    assert state(session, house) == ("started", 50, 2)
    history = client.get(f"/assets/{house}/history", headers=inspector.headers).json()
    assert [(e["percent"], e["counts"]) for e in history["events"]] == [(50, True), (20, True)]


def test_an_older_observation_claiming_more_is_held_as_a_conflict(
    client: TestClient, people: dict[str, Person], session: Session, house: int
) -> None:
    inspector = people["inspector_weihui"]
    pic = photo(client, inspector)
    assert report(client, inspector, house, stage="started", percent=30, photos=[pic],
                  location=HERE, observed_at=ago(1)).status_code == 201  # fmt: skip
    claim = report(client, inspector, house, stage="completed", percent=100, photos=[pic],
                   location=HERE, observed_at=ago(3))  # fmt: skip
    assert claim.status_code == 409
    body = claim.json()
    assert body["error"] == "conflict" and body["current"]["properties"]["percent"] == 30
    assert body["report"]["flags"] == ["conflict"] and body["report"]["counts"] is False
    assert state(session, house)[:2] == ("started", 30)
    assert len(events(session, house)) == 2  # never lost


def test_history_says_who_when_where_and_what_changed(
    client: TestClient, people: dict[str, Person], house: int
) -> None:
    inspector = people["inspector_weihui"]
    pic = photo(client, inspector, seed=7, lon=IN_WEIHUI.x, lat=IN_WEIHUI.y)
    report(client, inspector, house, stage="preparatory_done", percent=0, note="图纸已批",
           observed_at=ago(2))  # fmt: skip
    report(client, inspector, house, stage="started", percent=15, photos=[pic], location=HERE,
           observed_at=ago(1))  # fmt: skip
    history = client.get(f"/assets/{house}/history", headers=people["manager_weihui"].headers)
    assert history.status_code == 200
    latest, first = history.json()["events"]
    assert (latest["prev_stage"], latest["prev_percent"], latest["stage"], latest["percent"]) == (
        "preparatory_done", 0, "started", 15,
    )  # fmt: skip
    assert latest["reporter"] == {
        "username": "inspector-weihui",
        "display_name": "inspector-weihui",
    }
    assert latest["location"]["crs"] == "EPSG:4326" and latest["distance_m"] == 0
    assert latest["photos"][0]["id"] == pic and latest["photos"][0]["taken_at"]
    assert latest["review"] is None and first["note"] == "图纸已批"
    assert "张某" not in history.text  # no personal data in a history
    outsider = client.get(f"/assets/{house}/history", headers=people["inspector_hongqi"].headers)
    assert outsider.status_code == 403
