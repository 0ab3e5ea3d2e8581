"""The template routes of the API on both databases: list, show (by version), the Mermaid
diagram, and uploading YAML (created, unchanged, checked only; 422 with located problems and
409 for other content under a loaded version, nothing stored on any refusal). Admin only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.demo.world import ADMIN
from engine.service import templates
from engine.service.runtime import Runtime
from tests.http.api.conftest import Api
from workflows import bundled_templates

ORIGINAL = next(p for p in bundled_templates() if p.name == "annual-work-plan.yaml").read_text(
    encoding="utf-8"
)
VERSION_2 = ORIGINAL.replace("version: 1", "version: 2", 1).replace(
    "title: 基层工会年度工作计划审批", "title: 基层工会年度工作计划审批（第二版）", 1
)
YAML = {"Content-Type": "application/yaml"}
ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
).encode("utf-8")


def versions(rt: Runtime) -> list[tuple[str, int]]:
    return [(r.name, r.version) for r in templates.list_templates(rt)]


def upload(api: Api, content: bytes | str, *, user: str = ADMIN, **params: str) -> Any:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return api.client.post(
        "/api/templates", content=data, params=params, headers={**api.as_(user), **YAML}
    )


def test_listing_showing_and_the_diagram(api: Api) -> None:
    admin = api.as_(ADMIN)
    listed = api.client.get("/api/templates", headers=admin)
    assert listed.status_code == 200, listed.text
    assert [(t["name"], t["version"]) for t in listed.json()] == versions(api.rt)
    shown = api.client.get("/api/templates/annual-work-plan", headers=admin).json()
    assert (shown["version"], shown["source"]) == (1, ORIGINAL)
    assert shown["checksum"] == templates.checksum(ORIGINAL)
    diagram = api.client.get("/api/templates/annual-work-plan/diagram", headers=admin).json()
    assert diagram["mermaid"].startswith("stateDiagram-v2\n")
    assert "township_review" in diagram["mermaid"]
    missing = api.client.get("/api/templates/annual-work-plan?version=9", headers=admin)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "template.not_found")
    zero = api.client.get("/api/templates/annual-work-plan?version=0", headers=admin)
    assert zero.status_code == 422


def test_uploading_a_new_version_stores_it_once(api: Api) -> None:
    checked = upload(api, VERSION_2, check="true")
    assert checked.status_code == 200, checked.text
    assert checked.json()["outcome"] == "valid"
    assert ("annual-work-plan", 2) not in versions(api.rt)
    created = upload(api, VERSION_2)
    assert created.status_code == 201, created.text
    assert created.json() == {
        "name": "annual-work-plan",
        "version": 2,
        "title": "基层工会年度工作计划审批（第二版）",
        "outcome": "created",
    }
    assert ("annual-work-plan", 2) in versions(api.rt)
    again = upload(api, VERSION_2)
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    by_version = api.client.get(
        "/api/templates/annual-work-plan", params={"version": 2}, headers=api.as_(ADMIN)
    )
    assert by_version.json()["source"] == VERSION_2
    for media in ("text/yaml", "text/plain; charset=utf-8"):
        same = api.client.post(
            "/api/templates",
            content=VERSION_2.encode(),
            headers={**api.as_(ADMIN), "Content-Type": media},
        )
        assert same.status_code == 200, (media, same.text)


def test_other_content_under_a_loaded_version_is_409(api: Api) -> None:
    changed = ORIGINAL.replace("title: 草稿", "title: 起草中", 1)
    for params in ({"check": "true"}, {}):
        response = upload(api, changed, **params)
        assert (response.status_code, response.json()["error"]["code"]) == (
            409,
            "template.version_exists",
        )
    assert templates.get_template(api.rt, "annual-work-plan", 1).source == ORIGINAL


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02\xff\xfe binary",
        "名称: 模板\n".encode("gb18030"),
        ALIAS_BOMB,
        b"planflow: 1\nname: [unclosed\n",
        VERSION_2.replace("sign: any", "sign: sometimes", 1).encode(),
        b"",
    ],
    ids=["binary", "not-utf8", "alias-bomb", "malformed", "invalid", "empty"],
)
def test_bad_files_answer_422_with_located_problems_and_store_nothing(
    api: Api, content: bytes
) -> None:
    before = versions(api.rt)
    for params in ({"check": "true"}, {}):
        response = upload(api, content, **params)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["problems"], error
        for problem in error["problems"]:
            assert isinstance(problem["line"], int) and isinstance(problem["column"], int)
            assert problem["message"]
    assert versions(api.rt) == before


def test_an_invalid_template_names_the_line_of_its_problem(api: Api) -> None:
    bad = VERSION_2.replace("sign: any", "sign: sometimes", 1)
    line = next(n for n, text in enumerate(bad.splitlines(), 1) if "sometimes" in text)
    response = upload(api, bad)
    assert response.status_code == 422
    assert [p["line"] for p in response.json()["error"]["problems"]] == [line]


def test_a_body_not_typed_as_yaml_is_refused(api: Api) -> None:
    before = versions(api.rt)
    for media in ("application/json", "application/octet-stream", "multipart/form-data"):
        response = api.client.post(
            "/api/templates",
            content=VERSION_2.encode(),
            headers={**api.as_(ADMIN), "Content-Type": media},
        )
        assert response.status_code == 422, media
        assert response.json()["error"]["field"] == "content-type"
    assert versions(api.rt) == before


def test_templates_are_for_administrators_only(api: Api) -> None:
    before = versions(api.rt)
    reviewer = api.as_("zhao-zishan")
    for path in (
        "/api/templates",
        "/api/templates/annual-work-plan",
        "/api/templates/annual-work-plan/diagram",
    ):
        response = api.client.get(path, headers=reviewer)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "admin.only")
    refused = upload(api, VERSION_2, user="zhao-zishan")
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "admin.only")
    not_yaml = api.client.post(
        "/api/templates", content=b"{}", headers={**reviewer, "Content-Type": "application/json"}
    )
    assert not_yaml.status_code == 404  # refused as not theirs before the body is looked at
    assert versions(api.rt) == before


def test_the_bundled_files_are_the_ones_shown(api: Api) -> None:
    for path in bundled_templates():
        name = Path(path).stem
        shown = api.client.get(f"/api/templates/{name}", headers=api.as_(ADMIN)).json()
        assert shown["source"] == Path(path).read_text(encoding="utf-8")
