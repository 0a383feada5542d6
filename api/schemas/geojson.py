"""GeoJSON and OGC API shapes, for the OpenAPI documentation of responses built in PostGIS."""

from typing import Any, Literal

from pydantic import BaseModel


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class Geometry(BaseModel):
    type: str
    coordinates: Any


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int | str
    geometry: Geometry
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]
    numberMatched: int
    numberReturned: int
    timeStamp: str
    links: list[Link]
