"""Property-based: whatever bbox, datetime, limit, offset or id a client sends, the items API
answers 2xx or 4xx in the project's error shape, never 5xx."""

import datetime as dt
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ITEMS = "/ogc/collections/houses/items"
CHECKS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # requests change nothing
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([114.07, 35.4, -180, 180, 90, -90, 0]),
).map(str)
bboxes = st.one_of(
    st.lists(numbers, min_size=0, max_size=7).map(",".join),
    st.text(max_size=40),
)
moments = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
    timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))]),
).map(lambda t: t.isoformat())  # fmt: skip
ends = st.one_of(moments, st.dates().map(str), st.just(".."), st.just(""), st.text(max_size=12))
datetimes = st.one_of(
    ends, st.tuples(ends, ends).map("/".join), st.text(max_size=40)
)  # fmt: skip
counts = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Cc"]), max_size=25),
    st.text(max_size=25),
)


def _fine(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert {"error", "message", "message_en", "field"} <= response.json().keys()


@CHECKS
@given(bbox=bboxes)
def test_any_bbox(admin_client: TestClient, bbox: str) -> None:
    _fine(admin_client.get(ITEMS, params={"bbox": bbox}))


@CHECKS
@given(value=datetimes)
def test_any_datetime(admin_client: TestClient, value: str) -> None:
    _fine(admin_client.get(ITEMS, params={"datetime": value}))


@CHECKS
@given(limit=counts, offset=counts)
def test_any_limit_and_offset(admin_client: TestClient, limit: str, offset: str) -> None:
    _fine(admin_client.get(ITEMS, params={"limit": limit, "offset": offset}))


@CHECKS
@given(feature_id=st.one_of(counts, st.text(min_size=1, max_size=30)))
def test_any_id(admin_client: TestClient, feature_id: str) -> None:
    segment = quote(feature_id, safe="")
    for url in (f"{ITEMS}/{segment}", f"/ogc/collections/counties/items/{segment}"):
        _fine(admin_client.get(url))
    _fine(admin_client.get(f"/assets/{segment}"))


@CHECKS
@given(expression=st.text(max_size=60))
def test_any_filter(admin_client: TestClient, expression: str) -> None:
    _fine(admin_client.get(ITEMS, params={"filter": expression}))
