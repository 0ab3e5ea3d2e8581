"""The demo's world: a county federation, two townships, four grassroots unions and their people.

Used by `planflow demo` and by the tests, so both exercise the same organisation tree and roles.
"""

from __future__ import annotations

from engine.service import directory
from engine.service.runtime import Runtime

COUNTY = ("county", "县总工会")
TOWNSHIPS = {"zishan-town": "梓山镇工会", "songshan-town": "松山镇工会"}
GRASSROOTS = {
    "zishan-middle-school": ("梓山中学工会", "zishan-town"),
    "zishan-bike-factory": ("梓山自行车厂工会", "zishan-town"),
    "songshan-hospital": ("松山卫生院工会", "songshan-town"),
    "songshan-agri-college": ("松山农业职业技术学院工会", "songshan-town"),
}
# (username, name, organisation, roles)
PEOPLE = [
    ("wang-county", "王建国", "county", ["county_approver"]),
    ("li-county", "李秀英", "county", ["county_approver"]),
    ("zhao-zishan", "赵志强", "zishan-town", ["township_reviewer", "drafter"]),
    ("sun-songshan", "孙丽华", "songshan-town", ["township_reviewer", "drafter"]),
    ("chen-school", "陈静", "zishan-middle-school", ["drafter"]),
    ("liu-factory", "刘伟", "zishan-bike-factory", ["drafter"]),
    ("zhou-hospital", "周敏", "songshan-hospital", ["drafter"]),
    ("wu-college", "吴磊", "songshan-agri-college", ["drafter"]),
    ("admin-county", "郑海燕", "county", ["admin"]),  # administers the county's directory
]
DRAFTER = {org: user for user, _, org, roles in PEOPLE if "drafter" in roles}
REVIEWER = {"zishan-town": "zhao-zishan", "songshan-town": "sun-songshan"}
COUNTY_APPROVERS = ["wang-county", "li-county"]
ADMIN = "admin-county"


def build_world(rt: Runtime) -> None:
    """Create the organisations and users (templates are loaded separately)."""
    directory.create_org(rt, code=COUNTY[0], name=COUNTY[1])
    for code, name in TOWNSHIPS.items():
        directory.create_org(rt, code=code, name=name, parent=COUNTY[0])
    for code, (name, parent) in GRASSROOTS.items():
        directory.create_org(rt, code=code, name=name, parent=parent)
    for username, name, org, roles in PEOPLE:
        directory.create_user(
            rt, username=username, name=name, org=org, roles=roles, email=f"{username}@example.org"
        )
