"""Reporter coordinates to storage coordinates: names, ranges and the GCJ-02 inverse."""

import math

import pytest
from pyproj import Geod

from gis.crs import REPORTER_CRS, normalise_crs, to_storage, wgs84_to_gcj02
from gis.errors import InvalidInput

WGS84 = Geod(ellps="WGS84")

# Published WGS 84 -> GCJ-02 pairs, (lon, lat) each:
# - Shanghai, Shenzhen, Beijing: googollee/eviltransform, go/transform_test.go (its tuples are
#   lat, lon; reordered here).
# - Beijing (116.404, 39.915): wandergis/coordtransform, README and test/app.js, "wgs84togcj02".
PUBLISHED = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
]


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return WGS84.inv(a[0], a[1], b[0], b[1])[2]


@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED)
def test_forward_matches_published_pairs(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    assert _metres(wgs84_to_gcj02(*wgs), gcj) < 0.001


@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED)
def test_gcj02_is_stored_as_the_published_wgs84_point(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    assert _metres(to_storage(*gcj, "GCJ-02"), wgs) < 0.01


def test_gcj02_round_trip_over_xinxiang_is_under_half_a_metre() -> None:
    # The one-step inverse most snippets use is about 3 m off here; the iteration is not.
    worst = 0.0
    for i in range(33):
        for j in range(21):
            wgs = (113.3 + i * 0.05, 34.9 + j * 0.05)
            worst = max(worst, _metres(to_storage(*wgs84_to_gcj02(*wgs), "gcj02"), wgs))
    assert worst < 0.5


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4490"])
def test_wgs84_and_cgcs2000_are_stored_unchanged(crs: str) -> None:
    assert to_storage(114.07, 35.30, crs) == (114.07, 35.30)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("EPSG:4326", "EPSG:4326"),
        ("epsg:4326", "EPSG:4326"),
        ("4326", "EPSG:4326"),
        ("WGS84", "EPSG:4326"),
        ("wgs-84", "EPSG:4326"),
        ("CRS84", "EPSG:4326"),
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "EPSG:4326"),
        (" cgcs2000 ", "EPSG:4490"),
        ("4490", "EPSG:4490"),
        ("EPSG:4490", "EPSG:4490"),
        ("gcj02", "GCJ-02"),
        ("GCJ-02", "GCJ-02"),
        ("gcj_02", "GCJ-02"),
    ],
)
def test_spellings_normalise_to_one_name(spelling: str, canonical: str) -> None:
    assert normalise_crs(spelling) == canonical
    assert canonical in REPORTER_CRS


@pytest.mark.parametrize("name", ["bd09", "EPSG:3857", "", "4327"])
def test_unknown_crs_names_the_accepted_ones(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_crs(name)
    assert caught.value.field == "location.crs"
    for accepted in REPORTER_CRS:
        assert accepted in caught.value.zh
        assert accepted in caught.value.en


def test_swapped_coordinates_are_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        to_storage(35.30, 114.07, "EPSG:4326")
    assert caught.value.field == "location"
    assert "写反" in caught.value.zh
    assert "swapped" in caught.value.en


@pytest.mark.parametrize(("lon", "lat"), [(200.0, 35.3), (114.07, -95.0), (500.0, 500.0)])
def test_out_of_range_says_what_range(lon: float, lat: float) -> None:
    with pytest.raises(InvalidInput) as caught:
        to_storage(lon, lat, "wgs84")
    assert caught.value.field == "location"
    assert "-180 to 180" in caught.value.en
    assert "-90" in caught.value.zh


@pytest.mark.parametrize(("lon", "lat"), [(math.nan, 35.3), (114.07, math.inf)])
def test_non_finite_coordinates_are_refused(lon: float, lat: float) -> None:
    with pytest.raises(InvalidInput) as caught:
        to_storage(lon, lat, "EPSG:4326")
    assert caught.value.field == "location"


def test_gcj02_outside_china_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        to_storage(2.35, 48.86, "GCJ-02")
    assert caught.value.field == "location"
    assert "EPSG:4326" in caught.value.en
    assert "境外" in caught.value.zh
