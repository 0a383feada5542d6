"""Request and response bodies of the field workflow. Unknown fields are refused, so a client
cannot set what it does not own (version, county, reviewer, received_at, ...)."""

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gis.reports import Location, ReportIn

PHOTO_ID = r"^[0-9a-f]{64}$"


class LocationIn(BaseModel):
    """Where the reporter stood, as the device gives it."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(ge=-180, le=180, description="经度 longitude")
    lat: float = Field(ge=-90, le=90, description="纬度 latitude")
    crs: str = Field(
        default="EPSG:4326",
        max_length=40,
        description="EPSG:4326 (GPS/WGS84), EPSG:4490 (CGCS2000) or GCJ-02 (phone map apps)",
    )
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)


class ReportCreate(BaseModel):
    """A progress report on one asset."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = Field(
        default=None, description="Chosen by the client so that a resend is recognised."
    )
    stage: str = Field(
        max_length=40,
        description="not_started, preparatory_done, started, completed or accepted",
    )
    percent: int = Field(ge=0, le=100)
    observed_at: AwareDatetime = Field(description="When the inspector saw it, with time zone.")
    note: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(
        default=None, max_length=2000, description="Needed to move backwards."
    )
    location: LocationIn | None = None
    photos: list[str] = Field(
        default_factory=list, max_length=10, description="Ids from POST /photos."
    )

    def to_domain(self) -> ReportIn:
        return ReportIn(
            id=self.id or uuid.uuid4(),
            stage=self.stage,
            percent=self.percent,
            observed_at=self.observed_at,
            note=self.note,
            reason=self.reason,
            location=Location(**self.location.model_dump()) if self.location else None,
            photos=tuple(self.photos),
        )


class SyncReport(ReportCreate):
    """A report made offline: the client's id is required, with the version it last saw."""

    id: uuid.UUID
    asset_id: int = Field(ge=1, le=2**63 - 1)
    base_version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reports: list[SyncReport]


class SyncResult(BaseModel):
    id: uuid.UUID
    asset_id: int
    status: Literal["applied", "superseded", "duplicate", "conflict", "rejected"]
    version: int | None = None
    flags: list[str] = []
    error: str | None = None
    message: str | None = None
    message_en: str | None = None
    field: str | None = None
    current: dict[str, Any] | None = None


class SyncResponse(BaseModel):
    results: list[SyncResult]


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["confirmed", "rejected"]
    note: str | None = Field(default=None, max_length=2000)
