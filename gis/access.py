"""Who may see and do what: roles, county scope, and householders' personal data.

One place for every permission rule; the API and the CLI ask these functions and never decide
on their own. A principal is the logged-in user (or the anonymous public, when the deployment
opens read access); managers and inspectors are scoped to their counties.
"""

from dataclasses import dataclass

from gis.errors import Forbidden

ROLES: dict[str, str] = {
    "admin": "管理员",
    "viewer": "市级查看",
    "manager": "县区管理员",
    "inspector": "核查员",
}
ROLES_EN: dict[str, str] = {
    "admin": "administrator",
    "viewer": "city viewer (read only)",
    "manager": "county manager",
    "inspector": "field inspector",
}
SCOPED_ROLES = ("manager", "inspector")
CITY_WIDE_ROLES = ("admin", "viewer")
REPORTING_ROLES = ("admin", "manager", "inspector")
REVIEWING_ROLES = ("admin", "manager")


@dataclass(frozen=True)
class Principal:
    """Who is asking. ``counties`` is None for city-wide roles and the anonymous public."""

    user_id: int | None
    username: str | None
    display_name: str
    role: str | None  # None: anonymous (only when REBUILD_ANONYMOUS_READ is on)
    counties: frozenset[str] | None

    @property
    def is_anonymous(self) -> bool:
        return self.role is None

    def reads(self, county: str) -> bool:
        return self.counties is None or county in self.counties

    def may_report(self, county: str) -> bool:
        return self.role in REPORTING_ROLES and self.reads(county)

    def may_review(self, county: str) -> bool:
        return self.role in REVIEWING_ROLES and self.reads(county)

    @property
    def can_report(self) -> bool:
        return self.role in REPORTING_ROLES

    @property
    def can_review(self) -> bool:
        return self.role in REVIEWING_ROLES

    def sees_personal(self, county: str) -> bool:
        """Householders' names and phones: administrators, and managers of that county."""
        return self.role == "admin" or (
            self.role == "manager" and self.counties is not None and county in self.counties
        )

    @property
    def personal_everywhere_it_reads(self) -> bool:
        """Whether every asset this principal may read also shows its personal fields."""
        return self.role in ("admin", "manager")


ANONYMOUS = Principal(None, None, "匿名 anonymous", None, None)
# The `rebuild` command: whoever runs it holds the database, and sees what it holds.
TERMINAL = Principal(None, None, "命令行 terminal", "admin", None)


def _counties_text(principal: Principal) -> str:
    return "、".join(sorted(principal.counties or ()))


def require_read(principal: Principal, county: str) -> None:
    if not principal.reads(county):
        raise Forbidden(
            f"该项目属于县区 {county}，不在您负责的县区（{_counties_text(principal)}）内，无权查看",
            f"This asset is in county {county}, outside your counties "
            f"({', '.join(sorted(principal.counties or ()))}).",
            field="county_adcode",
        )


def require_report(principal: Principal, county: str) -> None:
    require_read(principal, county)
    if not principal.may_report(county):
        raise Forbidden(
            f"您的角色（{ROLES.get(principal.role or '', '匿名')}）只能查看，不能上报进度",
            f"Your role ({principal.role or 'anonymous'}) is read-only: it cannot report.",
            field="role",
        )


def require_review(principal: Principal, county: str) -> None:
    require_read(principal, county)
    if not principal.may_review(county):
        raise Forbidden(
            "只有该县区的管理员或系统管理员可以审核上报",
            "Only a manager of this county or an administrator can review reports.",
            field="role",
        )


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        names = "、".join(ROLES[r] for r in roles)
        raise Forbidden(
            f"此操作仅限：{names}",
            f"Only these roles may do this: {', '.join(roles)}.",
            field="role",
        )
