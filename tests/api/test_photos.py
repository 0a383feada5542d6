"""POST /photos and serving photos only to those who may see the asset."""

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.assets import create_asset
from tests.api.conftest import Person
from tests.api.test_reports import HERE, report
from tests.samples import IN_WEIHUI, WEIHUI_HOUSE, jpeg


def upload(client: TestClient, person: Person, data: bytes, name: str = "x.jpg", kind="image/jpeg"):
    return client.post("/photos", files={"file": (name, data, kind)}, headers=person.headers)


def test_upload_is_idempotent_by_content(
    client: TestClient, people: dict[str, Person], session: Session
) -> None:
    inspector = people["inspector_weihui"]
    data = jpeg(11, lon=IN_WEIHUI.x, lat=IN_WEIHUI.y)
    first = upload(client, inspector, data)
    assert first.status_code == 201
    body = first.json()
    assert len(body["id"]) == 64 and body["content_type"] == "image/jpeg"
    assert body["location"] == pytest.approx({"lon": IN_WEIHUI.x, "lat": IN_WEIHUI.y}, abs=1e-6)
    assert body["taken_at"].startswith("2022-03-01T10:20:30")
    again = upload(client, inspector, data, name="renamed.png")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert session.execute(text("SELECT count(*) FROM photos")).scalar_one() == 1


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"GIF89a" + b"\0" * 64, "photo.jpg"),
        (b"%PDF-1.4 not a photo", "photo.jpg"),
        (b"", "empty.jpg"),
    ],
)
def test_only_jpeg_and_png_by_content(
    client: TestClient, people: dict[str, Person], data: bytes, name: str
) -> None:
    response = upload(client, people["inspector_weihui"], data, name)
    assert response.status_code == 422
    assert response.json()["field"] == "file" and "JPG" in response.json()["message"]


def test_a_png_is_fine(client: TestClient, people: dict[str, Person]) -> None:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (1, 2, 3)).save(out, "PNG")
    response = upload(client, people["inspector_weihui"], out.getvalue(), "a.png", "image/png")
    assert response.status_code == 201 and response.json()["content_type"] == "image/png"


def test_size_limit(client: TestClient, people: dict[str, Person]) -> None:
    client.app.state.settings = client.app.state.settings.model_copy(update={"photo_max_mb": 0.001})
    response = upload(client, people["inspector_weihui"], jpeg(12) + b"\0" * 2000)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large" and "MB" in response.json()["message"]


def test_readers_cannot_upload(client: TestClient, people: dict[str, Person]) -> None:
    assert upload(client, people["viewer"], jpeg(13)).status_code == 403
    assert client.post("/photos", files={"file": ("x.jpg", jpeg(13))}).status_code == 401


def test_photos_are_served_only_to_those_who_may_see_the_asset(
    client: TestClient, people: dict[str, Person], session: Session
) -> None:
    inspector = people["inspector_weihui"]
    photo_id = upload(client, inspector, jpeg(14)).json()["id"]
    url = f"/photos/{photo_id}"

    def status(who: str, suffix: str = "") -> int:
        return client.get(url + suffix, headers=people[who].headers).status_code

    assert status("inspector_weihui") == 200  # the uploader
    assert status("manager_weihui") == 404  # not yet part of any report in 卫辉
    house = create_asset(session, asset_in=WEIHUI_HOUSE)
    made = report(client, inspector, house, stage="started", percent=5, photos=[photo_id],
                  location=HERE)  # fmt: skip
    assert made.status_code == 201, made.text
    assert status("manager_weihui") == 200
    assert status("viewer") == 200 and status("admin") == 200
    assert status("inspector_hongqi") == 404 and status("manager_hongqi") == 404
    assert client.get(url).status_code == 401
    thumb = client.get(url + "/thumbnail", headers=people["manager_weihui"].headers)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    original = client.get(url, headers=inspector.headers)
    assert original.content == jpeg(14)
    assert "private" in original.headers["cache-control"]


def test_bad_photo_ids(client: TestClient, people: dict[str, Person]) -> None:
    admin = people["admin"].headers
    assert client.get("/photos/../../etc/passwd", headers=admin).status_code == 404
    assert client.get("/photos/" + "g" * 64, headers=admin).status_code == 422
    assert client.get("/photos/" + "a" * 64, headers=admin).status_code == 404


def test_oversized_bodies_are_refused_before_they_are_read(
    client: TestClient, people: dict[str, Person]
) -> None:
    inspector = people["inspector_weihui"].headers
    huge = client.post(
        "/sync",
        content=b"{" + b" " * 11_000_000 + b"}",
        headers={**inspector, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert set(huge.json()) == {"error", "message", "message_en", "field"}

    def chunks():
        for _ in range(120):
            yield b" " * 100_000

    streamed = client.post(
        "/sync", content=chunks(), headers={**inspector, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413 and "MB" in streamed.json()["message"]
