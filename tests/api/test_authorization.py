"""Who may call what: every route of the app, called as every kind of user, against one matrix.

The rule: closed by default. Public are /healthz, the login page, /auth/token, /logout, static
files, the inspector page's shell and the API docs. Administrators do everything; city viewers
read everything and change nothing; county managers and inspectors read and report only in
their counties, and only managers review. Householders' names and phones go to administrators
and to managers of the house's county, and to no one else, in any answer. With
REBUILD_ANONYMOUS_READ on, the layers (``OpenReadRoute``) open read-only to anonymous users,
without personal fields; nothing else changes.

The routes are read from the app (its OpenAPI paths and its route table, which also holds the
pages, the inspector shell and the static mounts), so a route added later fails here until the
matrix says who may call it.
"""

import datetime as dt
import io
import itertools
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session
from starlette.routing import Mount

from api.deps import get_session
from api.main import create_app
from api.security import OpenReadRoute, PublicRoute
from gis import reports, users
from gis.assets import create_asset
from gis.settings import Settings
from tests.api.conftest import HONGQI, PASSWORD, PEOPLE, WEIHUI, Person
from tests.samples import HONGQI_HOUSE, IN_HONGQI, IN_WEIHUI, WEIHUI_HOUSE

ANONYMOUS = "anonymous"
IDENTITIES = (
    ANONYMOUS,
    "inspector_weihui",
    "inspector_hongqi",
    "manager_weihui",
    "viewer",
    "admin",
)
# county -> the personal values of its test house; none may appear where the rule forbids
PERSONAL = {
    WEIHUI: (WEIHUI_HOUSE.householder_name, WEIHUI_HOUSE.householder_phone),
    HONGQI: (HONGQI_HOUSE.householder_name, HONGQI_HOUSE.householder_phone),
}
PERSONAL_KEYS = {"householder_name", "householder_phone"}
ERROR_KEYS = {"error", "message", "message_en", "field"}
BOTH = frozenset({WEIHUI, HONGQI})


class Access(Enum):
    """Who gets past the application-wide guard (api/security.py) at all."""

    PUBLIC = "public"  # anyone
    OPEN_READ = "open read"  # logged-in users; anonymous users too when anonymous_read is on
    LOGIN = "login"  # logged-in users only


# The rule of the issue, per identity: role and counties come from the test accounts.
def _role(who: str) -> tuple[str | None, tuple[str, ...]]:
    return (None, ()) if who == ANONYMOUS else PEOPLE[who]


def reads(who: str, county: str) -> bool:
    role, counties = _role(who)
    return role in ("admin", "viewer") or county in counties


def may_report(who: str, county: str) -> bool:
    return _role(who)[0] in ("admin", "manager", "inspector") and reads(who, county)


def may_review(who: str, county: str) -> bool:
    return _role(who)[0] in ("admin", "manager") and reads(who, county)


def sees_personal(who: str, county: str) -> bool:
    role, counties = _role(who)
    return role == "admin" or (role == "manager" and county in counties)


# Expected status codes per identity.
def anyone(status: int = 200) -> dict[str, int]:
    return dict.fromkeys(IDENTITIES, status)


def logged_in(status: int = 200, **others: int) -> dict[str, int]:
    return {**anyone(status), ANONYMOUS: 401, **others}


def _by_rule(rule: Callable[[str, str], bool], county: str, status: int) -> dict[str, int]:
    return logged_in(status, **{w: 403 for w in IDENTITIES[1:] if not rule(w, county)})


def readers_of(county: str, status: int = 200) -> dict[str, int]:
    return _by_rule(reads, county, status)


def reporters_of(county: str, status: int = 201) -> dict[str, int]:
    return _by_rule(may_report, county, status)


def reviewers_of(county: str, status: int = 200) -> dict[str, int]:
    return _by_rule(may_review, county, status)


# Photos answer 404, not 403, to those who may not see them (gis/media.py): a photo id is a hash
# of its content and should not confirm that a given picture is stored.
# The attached photo: uploaded by 卫辉's inspector and carried by a report on the 卫辉 house.
ATTACHED_PHOTO = logged_in(200, inspector_hongqi=404)
# The loose photo: uploaded by 红旗's inspector, in no report yet: its uploader and city-wide roles.
LOOSE_PHOTO = logged_in(200, inspector_weihui=404, manager_weihui=404)


@dataclass
class World:
    """What the calls refer to: two houses, their reports and photos, and the people."""

    client: TestClient
    session: Session
    people: dict[str, Person]
    ids: dict[str, Any] = field(default_factory=dict)  # fills the {names} of the calls' URLs
    _seeds: Iterator[int] = field(default_factory=itertools.count)

    def auth(self, who: str) -> dict[str, str]:
        return {} if who == ANONYMOUS else self.people[who].headers

    def asset(self, county: str) -> int:
        return self.ids["weihui_house" if county == WEIHUI else "hongqi_house"]

    def etag(self, county: str) -> str:
        """The asset's current ETag, as a client would fetch it before reporting."""
        response = self.client.get(f"/assets/{self.asset(county)}", headers=self.auth("admin"))
        return response.headers["etag"]

    def fresh_report(self, county: str) -> uuid.UUID:
        """A new report on the county's house by its inspector, so that each reviewer has one."""
        reporter = "inspector_weihui" if county == WEIHUI else "inspector_hongqi"
        principal = users.principal_by_id(self.session, self.people[reporter].user_id)
        assert principal is not None
        outcome = reports.submit(
            self.session,
            principal=principal,
            asset_id=self.asset(county),
            report=reports.ReportIn(uuid.uuid4(), "preparatory_done", 0, now()),
            rules=reports.FieldRules(),
        )
        return outcome.report_id

    def fresh_token(self, who: str) -> str:
        """A token of its own for /logout, which revokes it (the person's usual token stays)."""
        token, _ = users.issue_token(
            self.session, user_id=self.people[who].user_id, kind="bearer", hours=1
        )
        return token

    def jpeg(self) -> bytes:
        """A small JPEG, different each time (a photo's id is its content's hash)."""
        seed = next(self._seeds)
        out = io.BytesIO()
        Image.new("RGB", (32, 24), (seed * 37 % 256, seed * 91 % 256, 120)).save(out, "JPEG")
        return out.getvalue()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


Build = Callable[[World, str], dict[str, Any]]
Check = Callable[[World, str, httpx.Response], list[str]]


@dataclass(frozen=True)
class Call:
    """One request of the walk, and what each identity gets back.

    ``shows``: the counties whose houses the expected answer describes, so whose personal
    fields it must carry for those allowed to see them (and for nobody else). ``build`` makes
    the body and headers afresh for each identity (``url`` in its result replaces the call's).
    """

    url: str
    expect: Mapping[str, int]
    shows: frozenset[str] = frozenset()
    build: Build | None = None
    check: Check | None = None


def _credentials(world: World, who: str) -> dict[str, Any]:
    username = world.people["viewer" if who == ANONYMOUS else who].username
    return {"data": {"username": username, "password": PASSWORD}}


def _own_fresh_token(world: World, who: str) -> dict[str, Any]:
    if who == ANONYMOUS:
        return {}
    return {"headers": {"Authorization": f"Bearer {world.fresh_token(who)}"}}


def _report(county: str, *, stale: bool = False) -> Build:
    def build(world: World, who: str) -> dict[str, Any]:
        body = {"stage": "preparatory_done", "percent": 0, "observed_at": now().isoformat()}
        return {"json": body, "headers": {"If-Match": '"1"' if stale else world.etag(county)}}

    return build


def _if_none_match(county: str) -> Build:
    return lambda world, who: {"headers": {"If-None-Match": world.etag(county)}}


def _sync(county: str, *, conflict: bool) -> Build:
    """One offline report. A conflict: back to 未开工 without a reason, from a device that had
    not seen the current version (the houses are 前期完成 at version 2 or later)."""

    def build(world: World, who: str) -> dict[str, Any]:
        item = {
            "id": str(uuid.uuid4()),
            "asset_id": world.asset(county),
            "stage": "not_started" if conflict else "preparatory_done",
            "percent": 0,
            "observed_at": now().isoformat(),
        }
        if conflict:
            item["base_version"] = 1
        return {"json": {"reports": [item]}}

    return build


def _sync_outcome(county: str, status: str) -> Check:
    """A batch answers 200; each report in it is decided, or rejected, by the rule."""

    def check(world: World, who: str, response: httpx.Response) -> list[str]:
        if response.status_code != 200:
            return []
        result = response.json()["results"][0]
        want = (status, None) if may_report(who, county) else ("rejected", "forbidden")
        got = (result["status"], result["error"])
        return [] if got == want else [f"sync result {got}, expected {want}: {result}"]

    return check


def _review(county: str) -> Build:
    def build(world: World, who: str) -> dict[str, Any]:
        report_id = world.fresh_report(county)
        return {"url": f"/reports/{report_id}/review", "json": {"decision": "confirmed"}}

    return build


def _photo(world: World, who: str) -> dict[str, Any]:
    return {"files": {"file": ("site.jpg", world.jpeg(), "image/jpeg")}}


def _importers(county: str, status: int) -> dict[str, int]:
    """Admins import anywhere; a county's managers import its rows (others: 422, row by row);
    no one else imports."""
    out = logged_in(403, admin=status)
    out.update({w: status if county in _role(w)[1] else 422
                for w in IDENTITIES[1:] if _role(w)[0] == "manager"})  # fmt: skip
    return out


def _inventory(county: str) -> Build:
    """A one-house inventory of ``county``, checked only (dry run): nothing is stored."""
    point = IN_WEIHUI if county == WEIHUI else IN_HONGQI
    csv = (
        "编号,类别,县区代码,名称,经度,纬度\n"
        f"FW-{county}-77001,一般损坏,{county},甲,{point.x},{point.y}\n"
    )

    def build(world: World, who: str) -> dict[str, Any]:
        return {
            "files": {"file": ("台账.csv", csv.encode(), "text/csv")},
            "data": {"layer": "houses", "dry_run": "true"},
        }

    return build


W, H = frozenset({WEIHUI}), frozenset({HONGQI})
ITEMS = "/ogc/collections/{collection_id}/items"
REVIEW = "/reports/{report_id}/review"

MATRIX: dict[tuple[str, str], tuple[Access, tuple[Call, ...]]] = {
    ("GET", "/healthz"): (Access.PUBLIC, (Call("/healthz", anyone()),)),
    ("GET", "/openapi.json"): (Access.PUBLIC, (Call("/openapi.json", anyone()),)),
    ("GET", "/docs"): (Access.PUBLIC, (Call("/docs", anyone()),)),
    ("GET", "/login"): (Access.PUBLIC, (Call("/login", anyone()),)),
    ("POST", "/login"): (Access.PUBLIC, (Call("/login", anyone(303), build=_credentials),)),
    ("POST", "/auth/token"): (
        Access.PUBLIC,
        (Call("/auth/token", anyone(), build=_credentials),),
    ),
    ("POST", "/logout"): (Access.PUBLIC, (Call("/logout", anyone(303), build=_own_fresh_token),)),
    ("GET", "/inspect"): (Access.PUBLIC, (Call("/inspect", anyone()),)),
    ("GET", "/inspect/sw.js"): (Access.PUBLIC, (Call("/inspect/sw.js", anyone()),)),
    ("GET", "/static/{path}"): (Access.PUBLIC, (Call("/static/inspect/app.js", anyone()),)),
    ("GET", "/vendor/{path}"): (
        Access.PUBLIC,
        (Call("/vendor/leaflet/dist/leaflet.js", anyone()),),
    ),
    ("GET", "/auth/me"): (Access.LOGIN, (Call("/auth/me", logged_in()),)),
    ("GET", "/"): (
        Access.LOGIN,
        (Call("/", logged_in()), Call("/?lang=en", logged_in())),
    ),
    ("GET", "/maps/overview"): (
        Access.LOGIN,
        (
            Call("/maps/overview", logged_in()),
            Call("/maps/overview?rule=roads_completed&as_of=2022-05-31", logged_in()),
        ),
    ),
    # Maps never carry personal fields (no `shows`): the judge checks none appears for anyone.
    ("GET", "/maps/{layer}"): (
        Access.LOGIN,
        (
            Call("/maps/houses", logged_in()),
            Call(f"/maps/houses?county={WEIHUI}", readers_of(WEIHUI)),
            Call(f"/maps/houses?county={HONGQI}&status=pending", readers_of(HONGQI)),
        ),
    ),
    ("GET", "/ogc"): (Access.OPEN_READ, (Call("/ogc", logged_in()),)),
    ("GET", "/ogc/conformance"): (Access.OPEN_READ, (Call("/ogc/conformance", logged_in()),)),
    ("GET", "/ogc/collections"): (Access.OPEN_READ, (Call("/ogc/collections", logged_in()),)),
    ("GET", "/ogc/collections/{collection_id}"): (
        Access.OPEN_READ,
        (
            Call("/ogc/collections/houses", logged_in()),
            Call("/ogc/collections/counties", logged_in()),
        ),
    ),
    ("GET", "/ogc/collections/{collection_id}/queryables"): (
        Access.OPEN_READ,
        (
            Call("/ogc/collections/houses/queryables", logged_in()),
            Call("/ogc/collections/counties/queryables?f=html", logged_in()),
        ),
    ),
    ("GET", ITEMS): (
        Access.OPEN_READ,
        (
            Call("/ogc/collections/houses/items", logged_in(), shows=BOTH),
            Call(f"/ogc/collections/houses/items?county={WEIHUI}", readers_of(WEIHUI), shows=W),
            Call(f"/ogc/collections/houses/items?county={HONGQI}", readers_of(HONGQI), shows=H),
            Call("/ogc/collections/counties/items", logged_in()),
            Call("/ogc/collections/houses/items?f=html", logged_in()),  # the table: no personal
            Call(
                f"/ogc/collections/houses/items?filter=county_adcode='{WEIHUI}'",
                logged_in(),
                shows=W,
            ),
        ),
    ),
    ("GET", ITEMS + "/{feature_id}"): (
        Access.OPEN_READ,
        (
            Call("/ogc/collections/houses/items/{weihui_house}", readers_of(WEIHUI), shows=W),
            Call("/ogc/collections/houses/items/{hongqi_house}", readers_of(HONGQI), shows=H),
            Call(f"/ogc/collections/counties/items/{WEIHUI}", logged_in()),
        ),
    ),
    ("GET", "/assets"): (
        Access.OPEN_READ,
        (
            Call("/assets?q=FW-4107", logged_in(), shows=BOTH),
            Call(f"/assets?near={IN_WEIHUI.x},{IN_WEIHUI.y}&radius_m=500", logged_in(), shows=W),
        ),
    ),
    ("GET", "/assets/{asset_id}"): (
        Access.OPEN_READ,
        (
            Call("/assets/{weihui_house}", readers_of(WEIHUI), shows=W),
            Call("/assets/{hongqi_house}", readers_of(HONGQI), shows=H),
            # The 304 shortcut must not skip the county check.
            Call("/assets/{weihui_house}", readers_of(WEIHUI, 304), build=_if_none_match(WEIHUI)),
        ),
    ),
    ("GET", "/assets/{asset_id}/history"): (
        Access.LOGIN,
        (
            Call("/assets/{weihui_house}/history", readers_of(WEIHUI)),
            Call("/assets/{hongqi_house}/history", readers_of(HONGQI)),
        ),
    ),
    ("POST", "/assets/{asset_id}/reports"): (
        Access.LOGIN,
        (
            Call(
                "/assets/{weihui_house}/reports",
                reporters_of(WEIHUI),
                shows=W,
                build=_report(WEIHUI),
            ),
            Call(
                "/assets/{hongqi_house}/reports",
                reporters_of(HONGQI),
                shows=H,
                build=_report(HONGQI),
            ),
            # A stale If-Match: 412 with the current state, personal fields by the rule.
            Call(
                "/assets/{weihui_house}/reports",
                reporters_of(WEIHUI, 412),
                shows=W,
                build=_report(WEIHUI, stale=True),
            ),
        ),
    ),
    ("POST", "/sync"): (
        Access.LOGIN,
        (
            Call(
                "/sync",
                logged_in(),
                build=_sync(WEIHUI, conflict=False),
                check=_sync_outcome(WEIHUI, "applied"),
            ),
            # A conflict's answer carries the current state of the house.
            Call(
                "/sync",
                logged_in(),
                shows=W,
                build=_sync(WEIHUI, conflict=True),
                check=_sync_outcome(WEIHUI, "conflict"),
            ),
            Call(
                "/sync",
                logged_in(),
                shows=H,
                build=_sync(HONGQI, conflict=True),
                check=_sync_outcome(HONGQI, "conflict"),
            ),
        ),
    ),
    ("GET", "/reports"): (
        Access.LOGIN,
        (
            Call("/reports", logged_in()),
            Call("/reports?flagged=true", logged_in()),
            Call(f"/reports?county={WEIHUI}", readers_of(WEIHUI)),
            Call(f"/reports?county={HONGQI}", readers_of(HONGQI)),
        ),
    ),
    ("GET", "/progress"): (
        Access.LOGIN,
        (
            Call("/progress", logged_in()),
            Call(f"/progress?county={WEIHUI}", readers_of(WEIHUI)),
            Call(f"/progress?county={HONGQI}&as_of=2022-05-31", readers_of(HONGQI)),
        ),
    ),
    ("GET", "/progress/overdue"): (
        Access.LOGIN,
        (
            Call("/progress/overdue", logged_in()),
            Call(f"/progress/overdue?county={WEIHUI}", readers_of(WEIHUI)),
        ),
    ),
    ("GET", "/progress/money"): (
        Access.LOGIN,
        (
            Call("/progress/money?gap=1", logged_in()),
            Call(f"/progress/money?county={WEIHUI}", readers_of(WEIHUI)),
        ),
    ),
    ("GET", "/progress/stale"): (
        Access.LOGIN,
        (
            Call("/progress/stale?days=1", logged_in()),
            Call(f"/progress/stale?county={HONGQI}", readers_of(HONGQI)),
        ),
    ),
    ("GET", "/exports/progress.xlsx"): (
        Access.LOGIN,
        (
            Call("/exports/progress.xlsx", logged_in()),
            Call(f"/exports/progress.xlsx?county={WEIHUI}", readers_of(WEIHUI)),
        ),
    ),
    ("GET", "/exports/progress.csv"): (
        Access.LOGIN,
        (Call("/exports/progress.csv", logged_in()),),
    ),
    ("GET", "/exports/{layer}.gpkg"): (
        Access.LOGIN,
        (Call("/exports/roads.gpkg", logged_in()),),
    ),
    ("GET", "/exports/{layer}.geojson"): (
        Access.LOGIN,
        (
            Call("/exports/houses.geojson", logged_in(), shows=W | H),
            Call(f"/exports/houses.geojson?county={WEIHUI}", readers_of(WEIHUI), shows=W),
        ),
    ),
    ("GET", "/exports/progress.zip"): (
        Access.LOGIN,
        (Call("/exports/progress.zip", logged_in()),),
    ),
    ("GET", "/reports/progress"): (
        Access.LOGIN,
        (
            Call("/reports/progress", logged_in()),
            Call(f"/reports/progress?county={HONGQI}", readers_of(HONGQI)),
        ),
    ),
    ("GET", "/tiles/{layer}/{z}/{x}/{y}.pbf"): (
        Access.LOGIN,
        (
            # The world's one tile holds both houses: each reader gets the ones it may read.
            Call("/tiles/houses/0/0/0.pbf", logged_in()),
            Call(f"/tiles/houses/0/0/0.pbf?county={WEIHUI}", readers_of(WEIHUI)),
        ),
    ),
    ("GET", "/deadlines"): (Access.LOGIN, (Call("/deadlines", logged_in()),)),
    ("GET", "/deadlines/changes"): (Access.LOGIN, (Call("/deadlines/changes", logged_in()),)),
    ("PUT", "/deadlines/{rule}"): (
        Access.LOGIN,
        (
            Call(
                "/deadlines/roads_completed",
                logged_in(403, admin=200),
                build=lambda world, who: {"json": {"label_en": f"Roads rebuilt ({who})"}},
            ),
        ),
    ),
    ("POST", REVIEW): (
        Access.LOGIN,
        (
            Call(REVIEW, reviewers_of(WEIHUI), shows=W, build=_review(WEIHUI)),
            Call(REVIEW, reviewers_of(HONGQI), shows=H, build=_review(HONGQI)),
        ),
    ),
    ("POST", "/imports"): (
        Access.LOGIN,
        (
            # Administrators, and managers for their own counties (other rows are refused).
            Call("/imports", _importers(WEIHUI, 200), build=_inventory(WEIHUI)),
            Call("/imports", _importers(HONGQI, 200), build=_inventory(HONGQI)),
        ),
    ),
    ("POST", "/photos"): (
        Access.LOGIN,
        (
            Call("/photos", logged_in(201, viewer=403), build=_photo),
            # No file: a logged-in caller learns what is missing, a stranger only to log in.
            Call("/photos", logged_in(422)),
        ),
    ),
    ("GET", "/photos/{photo_id}"): (
        Access.LOGIN,
        (
            Call("/photos/{attached_photo}", ATTACHED_PHOTO),
            Call("/photos/{loose_photo}", LOOSE_PHOTO),
        ),
    ),
    ("GET", "/photos/{photo_id}/thumbnail"): (
        Access.LOGIN,
        (
            Call("/photos/{attached_photo}/thumbnail", ATTACHED_PHOTO),
            Call("/photos/{loose_photo}/thumbnail", LOOSE_PHOTO),
        ),
    ),
}


def served_routes(app: FastAPI) -> dict[tuple[str, str], type | None]:
    """(method, path) of every route the app serves, with its route class (None: only in the
    OpenAPI schema). HEAD is left out: only non-API routes answer it, as their GET."""
    routes: dict[tuple[str, str], type | None] = {
        (method.upper(), path): None
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    # app.routes holds included routers whole; iter_route_contexts flattens them with prefixes.
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            routes[("GET", f"{context.path}/{{path}}")] = Mount
            continue
        for method in (context.methods or set()) - {"HEAD"}:
            routes[(method, context.path)] = type(route)
    return routes


def access_of(route_class: type | None) -> Access | None:
    if route_class is None:
        return None
    if not issubclass(route_class, APIRoute) or issubclass(route_class, PublicRoute):
        # The guard is an app-level dependency, which only API routes run: the OpenAPI schema
        # and the static mounts are public by construction.
        return Access.PUBLIC
    return Access.OPEN_READ if issubclass(route_class, OpenReadRoute) else Access.LOGIN


def _send(world: World, method: str, call: Call, who: str) -> tuple[str, httpx.Response | str]:
    """Make one call as ``who``: its label, and the answer or, if the app crashed, why."""
    extra = call.build(world, who) if call.build else {}
    url = extra.pop("url", call.url).format(**world.ids)
    label = f"{method} {url} as {who}"
    headers = {**world.auth(who), **extra.pop("headers", {})}
    # A browser login (POST /login) sets a session cookie: never let it reach the next caller.
    world.client.cookies.clear()
    try:
        # In a savepoint: a crash that aborts the transaction must not fail the calls after it.
        with world.session.begin_nested():
            response = world.client.request(
                method, url, headers=headers, follow_redirects=False, **extra
            )
    except Exception as exc:  # a crash is a finding like any other: record it and walk on
        return label, f"{label}: the app crashed: {exc!r:.400}"
    finally:
        world.client.cookies.clear()
    return label, response


def _json(response: httpx.Response) -> Any:
    """The answer's JSON (GeoJSON included), or None for other content."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    return response.json()


def _walk_json(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of every object in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk_json(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_json(item)


Rule = Callable[[str, str], bool]  # (identity, county) -> yes or no


def judge(
    label: str,
    response: httpx.Response,
    *,
    who: str,
    status: int,
    shows: frozenset[str],
    readable: Rule,
    personal: Rule,
) -> list[str]:
    """What is wrong with one answer: its status, its error shape, personal fields where the
    caller may not see them (or missing where it may), houses from counties it may not read."""
    problems = []
    if response.status_code != status:
        problems.append(
            f"{label}: {response.status_code}, expected {status}: {response.text[:300]}"
        )
    body = _json(response)
    if response.status_code >= 400 and not (isinstance(body, dict) and body.keys() >= ERROR_KEYS):
        problems.append(f"{label}: error body without {sorted(ERROR_KEYS)}: {response.text[:300]}")
    text = (
        json.dumps(body, ensure_ascii=False)
        if body is not None
        else response.content.decode("utf-8", "replace")
    )
    allowed = {c for c in shows if personal(who, c)} if response.status_code == status else set()
    for county, values in PERSONAL.items():
        for value in values:
            if (value in text) != (county in allowed):
                verb = "shows" if value in text else "lacks"
                problems.append(f"{label}: {verb} {county}'s householder {value!r}")
    pairs = list(_walk_json(body))
    keys = {key for key, _ in pairs} & PERSONAL_KEYS
    if bool(keys) != bool(allowed):
        problems.append(f"{label}: personal keys {sorted(keys)}, expected for {sorted(allowed)}")
    unreadable = {
        v for k, v in pairs if k == "county_adcode" and isinstance(v, str) and not readable(who, v)
    }
    if unreadable:
        problems.append(f"{label}: shows data of counties {sorted(unreadable)}")
    return problems


def unknown_routes(app: FastAPI) -> list[str]:
    """Routes the matrix does not know, routes it knows that are gone, and routes whose guard
    class does not give the access the matrix expects."""
    served = served_routes(app)
    problems = [
        f"{m} {p}: not in MATRIX; say who may call it" for m, p in served.keys() - MATRIX.keys()
    ]
    problems += [f"{m} {p}: in MATRIX but not served" for m, p in MATRIX.keys() - served.keys()]
    for key, route_class in served.items():
        if key in MATRIX and access_of(route_class) is not MATRIX[key][0]:
            problems.append(
                f"{key[0]} {key[1]}: {route_class} gives {access_of(route_class)}, "
                f"MATRIX says {MATRIX[key][0]}"
            )
    return sorted(problems)


@pytest.fixture
def world(client: TestClient, session: Session, people: dict[str, Person]) -> World:
    """A house in 卫辉 and one in 红旗, each reported on once by its inspector (卫辉's report
    carries a photo), and a photo that 红旗's inspector uploaded but has not used yet."""
    made = World(client, session, people)
    made.ids["weihui_house"] = create_asset(session, asset_in=WEIHUI_HOUSE)
    made.ids["hongqi_house"] = create_asset(session, asset_in=HONGQI_HOUSE)
    for key, who in (("attached_photo", "inspector_weihui"), ("loose_photo", "inspector_hongqi")):
        upload = client.post("/photos", headers=made.auth(who), **_photo(made, who))
        assert upload.status_code == 201, upload.text
        made.ids[key] = upload.json()["id"]
    for county, who, photos in (
        (WEIHUI, "inspector_weihui", [made.ids["attached_photo"]]),
        (HONGQI, "inspector_hongqi", []),
    ):
        report = _report(county)(made, who)
        report["json"]["photos"] = photos
        report["headers"].update(made.auth(who))
        response = client.post(f"/assets/{made.asset(county)}/reports", **report)
        assert response.status_code == 201, response.text
    return made


def test_the_matrix_knows_every_route(client: TestClient) -> None:
    """A new route fails here until MATRIX says who may call it; so does a changed guard."""
    problems = unknown_routes(client.app)
    assert not problems, "\n".join(problems)


def walk(
    world: World,
    identities: tuple[str, ...],
    status_of: Callable[[Access, str, Call, str], int],
    *,
    readable: Rule,
    personal: Rule,
) -> list[str]:
    """Every call of MATRIX as each of ``identities``, judged; the problems found."""
    problems = []
    for (method, _), (access, calls) in MATRIX.items():
        for call in calls:
            for who in identities:
                label, response = _send(world, method, call, who)
                if isinstance(response, str):
                    problems.append(response)
                    continue
                problems += judge(
                    label,
                    response,
                    who=who,
                    status=status_of(access, method, call, who),
                    shows=call.shows,
                    readable=readable,
                    personal=personal,
                )
                if call.check:
                    problems += [f"{label}: {p}" for p in call.check(world, who, response)]
    return problems


def test_every_route_answers_each_identity_by_the_rule(world: World) -> None:
    assert not unknown_routes(world.client.app), "see test_the_matrix_knows_every_route"
    problems = walk(
        world,
        IDENTITIES,
        lambda access, method, call, who: call.expect[who],
        readable=reads,
        personal=sees_personal,
    )
    assert not problems, "\n".join(problems)


@pytest.fixture
def open_world(app_settings: Settings, session: Session, world: World) -> Iterator[World]:
    """The same world, served by an app with REBUILD_ANONYMOUS_READ on."""
    app = create_app(app_settings.model_copy(update={"anonymous_read": True}))
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as open_client:
        yield World(open_client, session, world.people, world.ids)


def _open_status(access: Access, method: str, call: Call, who: str) -> int:
    """Anonymous users read the layers as a city viewer does; elsewhere nothing changes."""
    if access is Access.OPEN_READ and method == "GET":
        return call.expect["viewer"]
    assert access is not Access.LOGIN or call.expect[ANONYMOUS] == 401
    return call.expect[ANONYMOUS]


def test_anonymous_read_opens_only_the_layers_public_fields(open_world: World) -> None:
    problems = walk(
        open_world,
        (ANONYMOUS,),
        _open_status,
        readable=lambda who, county: True,
        personal=lambda who, county: False,
    )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/no-such-page", 404),
        ("GET", "/ogc/collections/houses/items/1/more", 404),
        ("GET", "/static/no-such-file.js", 404),
        ("GET", "/vendor/no-such-package/index.js", 404),
        ("DELETE", "/assets/1", 405),
        ("GET", "/sync", 405),
        ("PUT", "/ogc", 405),
        ("POST", "/healthz", 405),
    ],
)
@pytest.mark.parametrize("who", [ANONYMOUS, "viewer"])
def test_the_frameworks_own_refusals_have_the_projects_shape(
    client: TestClient, people: dict[str, Person], method: str, url: str, status: int, who: str
) -> None:
    headers = {} if who == ANONYMOUS else people[who].headers
    response = client.request(method, url, headers=headers)
    assert response.status_code == status
    body = response.json()
    assert body.keys() >= ERROR_KEYS
    assert body["message"] and body["message_en"]
