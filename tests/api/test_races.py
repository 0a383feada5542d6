"""Concurrent writers against a real server and database: one winner per version, no lost or
doubled reports, no deadlock."""

import datetime as dt
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import httpx2 as httpx
import pytest
from sqlalchemy.orm import Session

from gis import db, users
from gis.assets import create_asset
from tests.conftest import Databases, test_db_name
from tests.live import live_server
from tests.recount import assert_as_recounted
from tests.samples import WEIHUI_HOUSE

ROUNDS, WRITERS = 50, 20  # 1,000 reports on one asset
PASSWORD = "race-password"


def _seed(session: Session) -> None:
    users.add_user(
        session, username="racer", password=PASSWORD, role="inspector", counties=["410781"]
    )
    create_asset(session, asset_in=WEIHUI_HOUSE)
    for n in range(40):
        create_asset(session, asset_in=replace(WEIHUI_HOUSE, code=f"FW-410781-7{n:04d}"))
    for n in range(WRITERS):
        create_asset(session, asset_in=replace(WEIHUI_HOUSE, code=f"FW-410781-8{n:04d}"))


@pytest.fixture(scope="module")
def server(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = test_db_name("_races")
    with live_server(databases, name, home=tmp_path_factory.mktemp("races"), seed=_seed) as base:
        yield base


@pytest.fixture(scope="module")
def auth(server: str) -> dict[str, str]:
    form = {"username": "racer", "password": PASSWORD}
    token = httpx.post(f"{server}/auth/token", data=form).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _asset_id(server: str, auth: dict[str, str], code: str) -> int:
    found = httpx.get(f"{server}/assets", params={"q": code}, headers=auth).json()
    return found["features"][0]["id"]


def test_one_winner_per_version_over_a_thousand_racing_reports(
    server: str, auth: dict[str, str]
) -> None:
    """WRITERS clients each hold a connection; every round they all send a report with the
    same If-Match at the same moment: exactly one wins, the others get 412."""
    asset = _asset_id(server, auth, WEIHUI_HOUSE.code)
    statuses: Counter[int] = Counter()
    winners: list[str] = []
    lock = threading.Lock()
    version = [""]
    go, done = threading.Barrier(WRITERS + 1), threading.Barrier(WRITERS + 1)

    def writer() -> None:
        with httpx.Client(base_url=server, headers=auth, timeout=60) as own:
            for _ in range(ROUNDS):
                go.wait()
                body = {
                    "id": str(uuid.uuid4()),
                    "stage": "preparatory_done",
                    "percent": 0,
                    "observed_at": dt.datetime.now(dt.UTC).isoformat(),
                }
                answer = own.post(
                    f"/assets/{asset}/reports", json=body, headers={"If-Match": version[0]}
                )
                with lock:
                    statuses[answer.status_code] += 1
                    if answer.status_code == 201:
                        winners.append(body["id"])
                done.wait()

    threads = [threading.Thread(target=writer, daemon=True) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    with httpx.Client(base_url=server, headers=auth, timeout=60) as client:
        for _ in range(ROUNDS):
            version[0] = client.get(f"/assets/{asset}").headers["etag"]
            go.wait(timeout=60)
            done.wait(timeout=120)  # a BrokenBarrierError here means a writer hung: deadlock
        final = client.get(f"/assets/{asset}")
        history = client.get(f"/assets/{asset}/history", params={"limit": 1000}).json()
    assert statuses == {201: ROUNDS, 412: ROUNDS * (WRITERS - 1)}, statuses
    assert final.headers["etag"] == f'"{ROUNDS + 1}"'
    events = history["events"]
    assert sorted(e["id"] for e in events) == sorted(winners)  # none lost, none doubled
    # Each winner was decided on the version before it: 1, 2, ..., ROUNDS, without a gap.
    assert sorted(e["base_version"] for e in events) == list(range(1, ROUNDS + 1))


def test_the_same_sync_batch_sent_ten_times_at_once_applies_once(
    server: str, auth: dict[str, str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    assets = [_asset_id(server, auth, f"FW-410781-7{n:04d}") for n in range(40)]
    batch = [
        {
            "id": str(uuid.uuid4()),
            "asset_id": asset,
            "base_version": 1,
            "stage": "preparatory_done",
            "percent": 0,
            "observed_at": (now - dt.timedelta(minutes=n)).isoformat(),
        }
        for n, asset in enumerate(assets)
    ]
    answers: list[list[dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(10)

    def send() -> None:
        with httpx.Client(base_url=server, headers=auth, timeout=120) as own:
            start.wait()
            response = own.post("/sync", json={"reports": batch})
        with lock:
            answers.append(response.json()["results"] if response.status_code == 200 else [])

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(answers) == 10 and all(len(a) == len(batch) for a in answers)
    for index, report in enumerate(batch):
        outcomes = Counter(answer[index]["status"] for answer in answers)
        assert outcomes == {"applied": 1, "duplicate": 9}, (report["id"], outcomes)
    with httpx.Client(base_url=server, headers=auth) as client:
        for asset in assets:
            history = client.get(f"/assets/{asset}/history").json()
            assert len(history["events"]) == 1 and history["version"] == 2


def test_history_is_whole_in_the_database(server: str, auth: dict[str, str]) -> None:
    """Nothing half-written: every event of the racing asset has its asset state behind it."""
    asset = _asset_id(server, auth, WEIHUI_HOUSE.code)
    history = httpx.get(f"{server}/assets/{asset}/history?limit=1000", headers=auth).json()
    assert len({e["id"] for e in history["events"]}) == len(history["events"]) == ROUNDS
    assert all(e["counts"] and e["flags"] == [] for e in history["events"])


def test_reports_on_many_assets_at_once_keep_the_tallies_exact(
    server: str, auth: dict[str, str], databases: Databases
) -> None:
    """WRITERS clients report on WRITERS assets of one county at the same moment, each moving
    its asset on the same day: every writer updates the same rows of progress_tallies. None
    fails (no deadlock), and the tallies equal a recount from the history."""
    assets = [_asset_id(server, auth, f"FW-410781-8{n:04d}") for n in range(WRITERS)]
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)

    def writer(asset: int) -> None:
        with httpx.Client(base_url=server, headers=auth, timeout=60) as own:
            start.wait()
            body = {
                "id": str(uuid.uuid4()),
                "stage": "preparatory_done",
                "percent": 0,
                "observed_at": dt.datetime.now(dt.UTC).isoformat(),
            }
            answer = own.post(f"/assets/{asset}/reports", json=body, headers={"If-Match": '"1"'})
            with lock:
                statuses[answer.status_code] += 1

    threads = [threading.Thread(target=writer, args=(a,)) for a in assets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == {201: WRITERS}, statuses
    nonzero = (
        "SELECT layer, county_adcode, kind, batch, stage, day::text, assets FROM progress_tallies"
        " WHERE assets <> 0 ORDER BY 1, 2, 3, 4, 5, 6"
    )
    with db.transaction(db.make_engine(databases.url(test_db_name("_races")))) as session:
        assert_as_recounted(session, nonzero, "tally_rebuild")
