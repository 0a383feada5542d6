"""Logging in: tokens that expire and can be revoked, the browser session cookie, HTTP Basic for
GIS clients on reads only, the login page, and throttled password guessing."""

import base64

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import users
from tests.api.conftest import PASSWORD, Person


def _basic(username: str, password: str) -> dict[str, str]:
    value = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


@pytest.fixture
def clerk(session: Session) -> str:
    """An inspector of 卫辉市 made inside the test's transaction."""
    users.add_user(
        session, username="clerk", password="clerk-password", role="inspector", counties=["410781"]
    )
    return "clerk"


def _token(client: TestClient, username: str, password: str):
    return client.post("/auth/token", data={"username": username, "password": password})


def test_token_opens_the_api(client: TestClient, clerk: str) -> None:
    response = _token(client, clerk, "clerk-password")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_at"]
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["role"] == "inspector"
    assert me.json()["counties"] == [{"adcode": "410781", "name_zh": "卫辉市"}]
    assert me.json()["can_report"] and not me.json()["can_review"]


def test_wrong_password_is_a_clear_401(client: TestClient, clerk: str) -> None:
    response = _token(client, clerk, "wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert "用户名或密码不对" in response.json()["message"]
    assert _token(client, "nobody", "x").json()["message"] == response.json()["message"]


def test_disabling_a_user_ends_their_tokens(
    client: TestClient, session: Session, clerk: str
) -> None:
    token = _token(client, clerk, "clerk-password").json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/auth/me", headers=auth).status_code == 200
    users.disable_user(session, clerk)
    refused = client.get("/auth/me", headers=auth)
    assert refused.status_code == 401 and "重新登录" in refused.json()["message"]
    assert _token(client, clerk, "clerk-password").status_code == 401


def test_a_new_password_ends_the_old_logins(
    client: TestClient, session: Session, clerk: str
) -> None:
    token = _token(client, clerk, "clerk-password").json()["access_token"]
    users.set_password(session, clerk, "another-password")
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _token(client, clerk, "another-password").status_code == 200


def test_an_expired_token_is_refused(client: TestClient, session: Session, clerk: str) -> None:
    token = _token(client, clerk, "clerk-password").json()["access_token"]
    session.execute(
        text("UPDATE auth_tokens SET created_at = now() - interval '2 days', "
             "expires_at = now() - interval '1 second'")
    )  # fmt: skip
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_only_a_hash_of_the_token_is_stored(
    client: TestClient, session: Session, clerk: str
) -> None:
    token = _token(client, clerk, "clerk-password").json()["access_token"]
    stored = session.execute(text("SELECT token_hash FROM auth_tokens")).scalars().all()
    assert stored and all(token.encode() not in bytes(h) for h in stored)


def test_basic_auth_reads_but_does_not_write(client: TestClient, clerk: str) -> None:
    auth = _basic(clerk, "clerk-password")
    assert client.get("/ogc/collections/houses/items", headers=auth).status_code == 200
    assert client.get("/ogc/collections/houses/items", headers=auth).status_code == 200  # cached
    write = client.post("/sync", json={"reports": []}, headers=auth)
    assert write.status_code == 401 and "令牌" in write.json()["message"]
    wrong = client.get("/ogc/collections/houses/items", headers=_basic(clerk, "nope"))
    assert wrong.status_code == 401


def test_basic_auth_cache_ends_with_the_password(
    client: TestClient, session: Session, clerk: str
) -> None:
    auth = _basic(clerk, "clerk-password")
    assert client.get("/auth/me", headers=auth).status_code == 200
    users.set_password(session, clerk, "another-password")
    assert client.get("/auth/me", headers=auth).status_code == 401


def test_challenge_names_bearer_and_basic_for_gis_clients(client: TestClient) -> None:
    response = client.get("/ogc/collections/houses/items")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="rebuild"')
    assert "Basic" in response.headers["www-authenticate"]
    page = client.get("/ogc/collections/houses/items", headers={"Sec-Fetch-Mode": "cors"})
    assert "Basic" not in page.headers["www-authenticate"]  # no browser password dialog


def test_a_browser_is_sent_to_the_login_page(client: TestClient) -> None:
    response = client.get(
        "/ogc/collections/houses/items?county=410781",
        headers={"Sec-Fetch-Mode": "navigate", "Accept": "text/html"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/login?next=%2Fogc%2Fcollections%2Fhouses%2Fitems%3Fcounty%3D410781"
    )
    page = client.get("/login?next=/maps")
    assert page.status_code == 200 and "登录" in page.text and 'value="/maps"' in page.text


def test_login_form_sets_a_safe_cookie_and_redirects(client: TestClient, clerk: str) -> None:
    form = {"username": clerk, "password": "clerk-password", "next": "/inspect"}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/inspect"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("rebuild_session=")
    for flag in ("HttpOnly", "SameSite=lax", "Path=/", "Max-Age="):
        assert flag.lower() in cookie.lower(), flag
    assert client.get("/auth/me").json()["username"] == clerk  # the client keeps the cookie


@pytest.mark.parametrize(
    ("base", "secure"),
    [("https://testserver", True), ("http://127.0.0.1", True), ("http://10.1.2.3", False)],
)
def test_cookie_is_secure_wherever_browsers_keep_it(
    client: TestClient, clerk: str, base: str, secure: bool
) -> None:
    """Secure on HTTPS and on loopback; on plain HTTP to another host a Secure cookie would be
    dropped by the browser, so it is not set there (REBUILD_COOKIE_SECURE forces either way)."""
    form = {"username": clerk, "password": "clerk-password"}
    response = client.post(f"{base}/login", data=form, follow_redirects=False)
    assert ("secure" in response.headers["set-cookie"].lower()) is secure


def test_login_never_redirects_off_site(client: TestClient, clerk: str) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        form = {"username": clerk, "password": "clerk-password", "next": target}
        response = client.post("/login", data=form, follow_redirects=False)
        assert response.headers["location"] == "/", target


def test_login_page_shows_a_wrong_password(client: TestClient, clerk: str) -> None:
    response = client.post("/login", data={"username": clerk, "password": "nope"})
    assert response.status_code == 401 and "用户名或密码不对" in response.text


def test_json_login_and_logout(client: TestClient, clerk: str) -> None:
    json_accept = {"Accept": "application/json"}
    form = {"username": clerk, "password": "clerk-password"}
    response = client.post("/login", data=form, headers=json_accept)
    assert response.status_code == 200 and response.json()["user"]["username"] == clerk
    assert client.get("/auth/me").status_code == 200
    assert client.post("/logout", headers=json_accept).status_code == 204
    client.cookies.clear()
    assert client.get("/auth/me").status_code == 401


def test_logout_revokes_the_session_on_the_server(client: TestClient, clerk: str) -> None:
    form = {"username": clerk, "password": "clerk-password"}
    client.post("/login", data=form, headers={"Accept": "application/json"})
    session_cookie = client.cookies["rebuild_session"]
    client.post("/logout", headers={"Accept": "application/json"})
    client.cookies.set("rebuild_session", session_cookie)
    replayed = client.get("/auth/me")
    assert replayed.status_code == 401


def test_cookie_requests_from_another_site_are_refused(client: TestClient, clerk: str) -> None:
    form = {"username": clerk, "password": "clerk-password"}
    client.post("/login", data=form, headers={"Accept": "application/json"})
    forged = client.post("/sync", json={"reports": []}, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    same = client.post("/sync", json={"reports": []}, headers={"Origin": "http://testserver"})
    assert same.status_code == 200


def test_password_guessing_is_throttled(client: TestClient, clerk: str) -> None:
    for _ in range(10):
        assert _token(client, clerk, "guess").status_code == 401
    blocked = _token(client, clerk, "clerk-password")
    assert blocked.status_code == 429 and blocked.headers["retry-after"]
    assert "过多" in blocked.json()["message"]


def test_viewer_cannot_report(client: TestClient, people: dict[str, Person]) -> None:
    me = client.get("/auth/me", headers=people["viewer"].headers).json()
    assert me["role"] == "viewer" and me["counties"] == [] and not me["can_report"]


def test_people_fixture_passwords_work(client: TestClient, people: dict[str, Person]) -> None:
    assert _token(client, people["admin"].username, PASSWORD).status_code == 200
