"""Configuration, read from the environment with the ``REBUILD_`` prefix."""

from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything the service, the CLI and the tests can be told from outside."""

    model_config = SettingsConfigDict(env_prefix="REBUILD_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of an existing PostGIS. Unset: the project runs its own.",
    )
    home: Path = Field(
        default=PROJECT_ROOT / ".rebuild",
        description="Project-local state: the local PostGIS cluster, its socket and log.",
    )
    data_dir: Path = Field(default=PROJECT_ROOT / "data", description="Reference data.")
    vendor_dir: Path = Field(
        default=PROJECT_ROOT / "node_modules",
        description="Front-end libraries installed by npm (package.json), served under /vendor.",
    )
    pg_bindir: Path | None = Field(
        default=None, description="PostgreSQL binaries; found automatically when unset."
    )
    pg_os_user: str = Field(
        default="postgres",
        description="System user that runs the local cluster when the project runs as root.",
    )
    install_packages: bool = Field(
        default=True,
        description="As root on Debian/Ubuntu, install PostGIS with apt-get when it is missing.",
    )
    demo_seed: int = 20210720
    anonymous_read: bool = Field(
        default=False,
        description="Open the public fields of the layers read-only to anyone (a public page).",
    )
    token_hours: float = Field(
        default=72, gt=0, description="Lifetime of bearer tokens and browser sessions, in hours."
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Secure flag of the session cookie. Unset: on, except for plain HTTP to a "
        "host other than localhost (where browsers would drop the cookie).",
    )
    media_dir: Path | None = Field(
        default=None, description="Where photos are kept. Unset: <home>/media."
    )
    photo_max_mb: float = Field(default=15, gt=0, description="Largest photo accepted, in MB.")
    report_max_distance_m: float = Field(
        default=500,
        gt=0,
        description="A report made farther than this from the asset is stored but flagged.",
    )
    sync_max_reports: int = Field(default=1000, ge=1, description="Reports per /sync request.")
    stale_days: int = Field(
        default=30,
        ge=1,
        description="An unfinished asset with no report for this many days is stale.",
    )
    digest_webhook: str | None = Field(
        default=None, description="Group-robot webhook URL for `rebuild digest --send`."
    )
    digest_kind: str = Field(default="wecom", pattern="^(wecom|dingtalk)$")
    digest_secret: str | None = Field(
        default=None, description="DingTalk signing secret (the robot's 加签 setting)."
    )
    body_max_mb: float = Field(
        default=10, gt=0, description="Largest request body other than a photo upload, in MB."
    )
    basemap_url: str | None = Field(
        default=None,
        description="XYZ tile URL template of a basemap under the maps, e.g. a local tile "
        "server's http://tiles.intranet/{z}/{x}/{y}.png. Unset: none (county boundaries only).",
    )
    basemap_attribution: str | None = Field(
        default=None, description="Credit shown for the basemap (required by most providers)."
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="The address people and GIS clients reach the service at, e.g. "
        "https://rebuild.example.cn/gis: links in answers (OGC self/next/prev) are built from it. "
        "Unset: from the request's Host, which must then be a trusted host.",
    )
    trusted_hosts: str = Field(
        default="127.0.0.1,localhost,::1",
        description="Comma-separated host names the service answers to (the Host header); "
        "the host of public_url is added. Others get 400, so a forged Host never reaches a link.",
    )
    ogc_max_limit: int = Field(
        default=10_000, ge=1, le=100_000, description="Largest page of OGC API items (limit)."
    )
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def allowed_hosts(self) -> frozenset[str]:
        """The Host names requests may carry (lower case, without port or IPv6 brackets)."""
        names = {h.strip().strip("[]").lower() for h in self.trusted_hosts.split(",") if h.strip()}
        if self.public_url:
            names.add((urlsplit(self.public_url).hostname or "").lower())
        if self.host not in ("0.0.0.0", "::", ""):
            names.add(self.host.strip("[]").lower())
        return frozenset(names - {""})

    @property
    def body_max_mb_int(self) -> int:
        return int(self.body_max_mb * 1_000_000)

    @property
    def photos_dir(self) -> Path:
        return self.media_dir or self.home / "media"

    @property
    def evidence_file(self) -> Path:
        return self.data_dir / "evidence.toml"

    @cached_property
    def counties_file(self) -> Path:
        return self.data_dir / "xinxiang_counties.geojson"
