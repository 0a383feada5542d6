"""SQLAlchemy 2 typed models. The migrations in ``gis/migrations`` are the source of truth for the
schema; these models describe the same tables, columns, defaults, keys and indexes exactly
(tests/gis/test_models.py compares them). CHECK constraints, triggers and views live only in the
migrations."""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, ClassVar

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gis.crs import STORAGE_SRID


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: DateTime(timezone=True)}


PERSONAL = {"personal": True}  # column info flag: personal data, hidden from most roles
PERSONAL_COMMENT = "PERSONAL DATA: hidden from roles without access"


class Layer(Base):
    __tablename__ = "layers"

    layer: Mapped[str] = mapped_column(Text, primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)


class AssetKind(Base):
    __tablename__ = "asset_kinds"

    layer: Mapped[str] = mapped_column(ForeignKey("layers.layer"), primary_key=True)
    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)


class Stage(Base):
    __tablename__ = "stages"

    stage: Mapped[str] = mapped_column(Text, primary_key=True)
    ordinal: Mapped[int] = mapped_column(SmallInteger, unique=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)


class County(Base):
    __tablename__ = "counties"
    __table_args__ = (Index("counties_geom_gist", "geom", postgresql_using="gist"),)

    adcode: Mapped[str] = mapped_column(String(6), primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False)
    )


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        ForeignKeyConstraint(
            ["layer", "kind"], ["asset_kinds.layer", "asset_kinds.kind"], name="assets_kind_fkey"
        ),
        Index("assets_geom_gist", "geom", postgresql_using="gist"),
        Index("assets_layer_county", "layer", "county_adcode", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    layer: Mapped[str] = mapped_column(ForeignKey("layers.layer"))
    kind: Mapped[str] = mapped_column(Text)
    batch: Mapped[int | None] = mapped_column(SmallInteger)
    county_adcode: Mapped[str] = mapped_column(ForeignKey("counties.adcode"))
    town: Mapped[str | None] = mapped_column(Text)
    village: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("GEOMETRY", srid=STORAGE_SRID, spatial_index=False)
    )
    households: Mapped[int | None] = mapped_column(SmallInteger)
    planned_investment_wan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    funds_secured_wan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    poverty_alleviated_area: Mapped[bool] = mapped_column(server_default=false())
    worst_hit_area: Mapped[bool] = mapped_column(server_default=false())
    householder_name: Mapped[str | None] = mapped_column(
        Text, info=PERSONAL, comment=PERSONAL_COMMENT
    )
    householder_phone: Mapped[str | None] = mapped_column(
        Text, info=PERSONAL, comment=PERSONAL_COMMENT
    )
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    extra_personal: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), info=PERSONAL, comment=PERSONAL_COMMENT
    )
    stage: Mapped[str] = mapped_column(ForeignKey("stages.stage"), server_default="not_started")
    percent: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    stage_observed_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(
        server_default=text("1"), comment="Incremented on every change; served as the ETag"
    )
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class AssetEvent(Base):
    __tablename__ = "asset_events"
    __table_args__ = (
        Index("asset_events_asset_observed", "asset_id", text("observed_at DESC")),
        Index("asset_events_observed", "observed_at"),
        Index("asset_events_received", text("received_at DESC"), "id"),  # the report list
        # The predicate in PostgreSQL's own spelling, as the database reflects it.
        Index(
            "asset_events_flagged",
            text("received_at DESC"),
            postgresql_where=text("flags <> '{}'::text[]"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"))
    stage: Mapped[str] = mapped_column(ForeignKey("stages.stage"))
    percent: Mapped[int] = mapped_column(SmallInteger)
    observed_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reporter_geom: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=STORAGE_SRID, spatial_index=False)
    )
    reporter_crs: Mapped[str | None] = mapped_column(Text)
    reporter_lon: Mapped[float | None] = mapped_column(Double)
    reporter_lat: Mapped[float | None] = mapped_column(Double)
    reporter_accuracy_m: Mapped[float | None] = mapped_column(REAL)
    distance_m: Mapped[float | None] = mapped_column(REAL)
    prev_stage: Mapped[str | None] = mapped_column(ForeignKey("stages.stage"))
    prev_percent: Mapped[int | None] = mapped_column(SmallInteger)
    base_version: Mapped[int | None]
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    content_type: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    taken_at: Mapped[dt.datetime | None]
    geom: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=STORAGE_SRID, spatial_index=False)
    )
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class EventPhoto(Base):
    __tablename__ = "event_photos"
    __table_args__ = (Index("event_photos_photo", "photo_id"),)

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("asset_events.id"), primary_key=True)
    photo_id: Mapped[str] = mapped_column(ForeignKey("photos.id"), primary_key=True)


class ReportReview(Base):
    __tablename__ = "report_reviews"

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("asset_events.id"), primary_key=True)
    decision: Mapped[str] = mapped_column(Text)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    note: Mapped[str | None] = mapped_column(Text)


class DeadlineChange(Base):
    __tablename__ = "deadline_changes"
    __table_args__ = (Index("deadline_changes_rule", "rule", "changed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    changed_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_via: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Milestone(Base):
    __tablename__ = "milestones"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date)
    label_zh: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)


class Deadline(Base):
    __tablename__ = "deadlines"
    __table_args__ = (
        ForeignKeyConstraint(
            ["layer", "kind"], ["asset_kinds.layer", "asset_kinds.kind"], name="deadlines_kind_fkey"
        ),
    )

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    rule: Mapped[str] = mapped_column(Text, unique=True)
    layer: Mapped[str] = mapped_column(ForeignKey("layers.layer"))
    kind: Mapped[str | None] = mapped_column(Text)
    batch: Mapped[int | None] = mapped_column(SmallInteger)
    stage: Mapped[str] = mapped_column(ForeignKey("stages.stage"))
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    due_milestone: Mapped[str | None] = mapped_column(
        ForeignKey("milestones.name", onupdate="CASCADE")
    )
    label_zh: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(server_default=true())
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    disabled_at: Mapped[dt.datetime | None]
    password_changed_at: Mapped[dt.datetime | None]


class AuthToken(Base):
    __tablename__ = "auth_tokens"
    __table_args__ = (Index("auth_tokens_user", "user_id"),)

    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class UserCounty(Base):
    __tablename__ = "user_counties"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    county_adcode: Mapped[str] = mapped_column(ForeignKey("counties.adcode"), primary_key=True)


class AppMeta(Base):
    __tablename__ = "app_meta"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONB)


# Assets per stage and day, as steps (migration 0005 explains them; triggers keep them). A table
# without a primary key (batch may be null), so not an ORM class: nothing maps its rows.
progress_tallies = Table(
    "progress_tallies",
    Base.metadata,
    Column("layer", Text, nullable=False),
    Column("county_adcode", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("batch", SmallInteger),
    Column("stage", ForeignKey("stages.stage"), nullable=False),
    Column("day", Date, nullable=False),
    Column("assets", Integer, nullable=False),
    Column("households", Integer, nullable=False),
    Column("km", Numeric(14, 3), nullable=False),
    Column("investment_wan", Numeric(16, 2), nullable=False),
    UniqueConstraint(
        *("layer", "county_adcode", "kind", "batch", "stage", "day"),
        name="progress_tallies_key",
        postgresql_nulls_not_distinct=True,
    ),
)


# Point assets per Web Mercator grid cell at a few levels, per county, group and stage
# (migration 0006 explains them; triggers keep them). Not an ORM class: nothing maps its rows.
tile_cells = Table(
    "tile_cells",
    Base.metadata,
    Column("layer", Text, primary_key=True),
    Column("level", SmallInteger, primary_key=True),
    Column("cx", Integer, primary_key=True),
    Column("cy", Integer, primary_key=True),
    Column("county_adcode", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("batch_key", SmallInteger, primary_key=True),
    Column("stage", Text, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("sum_x", BigInteger, nullable=False),
    Column("sum_y", BigInteger, nullable=False),
    Column("sum_id", BigInteger, nullable=False),
)


def personal_columns() -> list[str]:
    """Names of asset columns holding householders' personal data."""
    return [c.name for c in Asset.__table__.columns if c.info.get("personal")]
