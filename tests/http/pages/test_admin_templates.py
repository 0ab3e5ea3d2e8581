"""The template admin pages: the loaded versions; an upload is checked first, its problems shown
with line and column and nothing saved; a valid one shows both diagrams and the diff, and is
saved only on confirmation; administrators only, everyone else finds no such page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.service.runtime import Runtime
from engine.service.templates import list_templates
from tests.http.pages.admin_session import (
    COUNTY_ADMIN,
    TOWNSHIP_ADMIN,
    admin_world,
    app_with_login,
    login,
    text_of,
)

ROOT = Path(__file__).resolve().parents[3]
ANNUAL = (ROOT / "workflows" / "annual-work-plan.yaml").read_text(encoding="utf-8")
VERSION_2 = ANNUAL.replace("version: 1", "version: 2").replace(
    "title: 年终自评", "title: 年终自评与总结"
)
BROKEN = ANNUAL.replace("version: 1", "version: 2").replace("to: executing", "to: executin")


@pytest.fixture
def client(sqlite_rt: Runtime) -> Iterator[TestClient]:
    admin_world(sqlite_rt)
    with TestClient(app_with_login(sqlite_rt)) as client:
        yield client


def versions(rt: Runtime) -> list[tuple[str, int]]:
    return [(r.name, r.version) for r in list_templates(rt)]


def check(client: TestClient, csrf: str, source: str) -> tuple[int, str]:
    response = client.post("/admin/templates/check", data={"csrf_token": csrf, "source": source})
    return response.status_code, response.text


def test_the_list_shows_every_loaded_version(client: TestClient) -> None:
    login(client, COUNTY_ADMIN)
    page = client.get("/admin/templates")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "基层工会年度工作计划审批" in text and "镇工会年度工作计划审批" in text
    assert 'href="/admin/templates/annual-work-plan/1"' in page.text
    assert 'enctype="multipart/form-data"' in page.text


def test_one_version_shows_its_diagram_and_numbered_source(client: TestClient) -> None:
    login(client, TOWNSHIP_ADMIN)  # templates have no realm: any administrator reads them
    page = client.get("/admin/templates/annual-work-plan/1")
    assert page.status_code == 200
    assert page.text.count("<svg") == 1 and "县总工会会签审批" in page.text
    assert 'id="line-1"' in page.text
    assert "第一个载入的版本" in page.text


@pytest.mark.parametrize("who", ["chen-school", "zhao-zishan", "wang-county"])
def test_to_anyone_but_an_administrator_the_pages_do_not_exist(
    client: TestClient, sqlite_rt: Runtime, who: str
) -> None:
    csrf = login(client, who)
    assert client.get("/admin/templates").status_code == 404
    assert client.get("/admin/templates/annual-work-plan/1").status_code == 404
    assert check(client, csrf, VERSION_2)[0] == 404
    saved = client.post("/admin/templates", data={"csrf_token": csrf, "source": VERSION_2})
    assert saved.status_code == 404
    assert ("annual-work-plan", 2) not in versions(sqlite_rt)


def test_not_logged_in_goes_to_the_login_page(client: TestClient) -> None:
    response = client.get("/admin/templates", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fadmin%2Ftemplates"


def test_problems_are_shown_with_line_and_column_and_nothing_is_saved(
    client: TestClient, sqlite_rt: Runtime
) -> None:
    csrf = login(client, COUNTY_ADMIN)
    before = versions(sqlite_rt)
    status, page = check(client, csrf, BROKEN)
    assert status == 422
    line = next(n for n, text in enumerate(BROKEN.splitlines(), 1) if "to: executin," in text)
    text = text_of(page)
    assert f"第 {line} 行第" in text
    assert "executin" in text and "executing" in text  # the "did you mean" hint, in Chinese
    assert re.search(rf'<span class="line problem" id="line-{line}">', page)
    assert "没有保存任何内容" in text
    assert 'action="/admin/templates"' not in page  # no way to save it
    assert versions(sqlite_rt) == before


def test_problems_are_in_chinese(client: TestClient) -> None:
    csrf = login(client, COUNTY_ADMIN)
    status, page = check(client, csrf, "planflow: 1\nname: x\n")
    assert status == 422
    problems = re.findall(r"<li>(.*?)</li>", page, re.DOTALL)
    assert problems and all(re.search(r"[\u4e00-\u9fff]", p) for p in problems)


def test_a_valid_upload_shows_both_diagrams_and_the_diff_and_saves_only_when_confirmed(
    client: TestClient, sqlite_rt: Runtime
) -> None:
    csrf = login(client, COUNTY_ADMIN)
    status, page = check(client, csrf, VERSION_2)
    assert status == 200
    assert page.count("<svg") == 2  # the new version's and the previous one's
    assert "年终自评与总结" in page and "上一版：第 1 版" in page
    assert '<span class="removed">-    title: 年终自评</span>' in page
    assert '<span class="added">+    title: 年终自评与总结</span>' in page
    assert ("annual-work-plan", 2) not in versions(sqlite_rt)  # checked, not saved

    source = re.search(r'name="source" value="([^"]*)"', page, re.DOTALL)
    assert source is not None
    shown = html.unescape(source.group(1))
    assert shown == VERSION_2
    saved = client.post(
        "/admin/templates",
        data={"csrf_token": csrf, "source": shown.replace("\n", "\r\n"), "filename": "a.yaml"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin/templates/annual-work-plan/2?saved=new"
    assert ("annual-work-plan", 2) in versions(sqlite_rt)
    stored = next(r for r in list_templates(sqlite_rt) if r.version == 2)
    assert stored.source == VERSION_2  # what was shown, with the file's line ends

    page2 = client.get(saved.headers["location"])
    assert "新版本已保存" in page2.text and page2.text.count("<svg") == 2
    again = client.post(
        "/admin/templates",
        data={"csrf_token": csrf, "source": VERSION_2},
        follow_redirects=False,
    )
    assert again.headers["location"].endswith("?saved=same")


def test_an_uploaded_file_is_checked_like_pasted_text(client: TestClient) -> None:
    csrf = login(client, COUNTY_ADMIN)
    response = client.post(
        "/admin/templates/check",
        data={"csrf_token": csrf},
        files={"file": ("annual-v2.yaml", VERSION_2.encode("utf-8"), "application/yaml")},
    )
    assert response.status_code == 200
    assert "annual-v2.yaml" in response.text and response.text.count("<svg") == 2


def test_a_version_loaded_with_other_content_is_refused_before_saving(
    client: TestClient, sqlite_rt: Runtime
) -> None:
    csrf = login(client, COUNTY_ADMIN)
    changed = ANNUAL.replace("title: 年终自评", "title: 年终总结")
    status, page = check(client, csrf, changed)
    assert status == 409
    assert "version 改为 2" in text_of(page)
    assert 'action="/admin/templates"' not in page
    saved = client.post("/admin/templates", data={"csrf_token": csrf, "source": changed})
    assert saved.status_code == 409
    assert "version: 2" in text_of(saved.text)  # the service's own refusal, in Chinese
    assert versions(sqlite_rt) == [("annual-work-plan", 1), ("township-annual-plan", 1)]


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02\xff\xfe binary",
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            )
        ).encode("utf-8"),
    ],
    ids=["binary", "alias-bomb"],
)
def test_binary_files_and_alias_bombs_are_refused_in_chinese(
    client: TestClient, sqlite_rt: Runtime, content: bytes
) -> None:
    csrf = login(client, COUNTY_ADMIN)
    before = versions(sqlite_rt)
    response = client.post(
        "/admin/templates/check",
        data={"csrf_token": csrf},
        files={"file": ("bad.yaml", content, "application/octet-stream")},
    )
    assert response.status_code == 422
    problems = re.findall(r"<li>(.*?)</li>", response.text, re.DOTALL)
    assert problems and all(re.search(r"[\u4e00-\u9fff]", p) for p in problems)
    assert versions(sqlite_rt) == before


def test_template_text_is_shown_escaped(client: TestClient) -> None:
    csrf = login(client, COUNTY_ADMIN)
    hostile = VERSION_2.replace(
        "title: 基层工会年度工作计划审批", 'title: "<script>alert(1)</script>"'
    )
    status, page = check(client, csrf, hostile)
    assert status == 200
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_nothing_uploaded_is_a_clear_message(client: TestClient) -> None:
    csrf = login(client, COUNTY_ADMIN)
    status, page = check(client, csrf, "  ")
    assert status == 422
    assert "请选择模板文件或粘贴模板内容" in page


def test_a_forged_form_saves_nothing(client: TestClient, sqlite_rt: Runtime) -> None:
    login(client, COUNTY_ADMIN)
    response = client.post("/admin/templates", data={"csrf_token": "forged", "source": VERSION_2})
    assert response.status_code == 403
    assert ("annual-work-plan", 2) not in versions(sqlite_rt)


def test_unknown_fields_and_parameters_are_refused_by_name(client: TestClient) -> None:
    csrf = login(client, COUNTY_ADMIN)
    response = client.post(
        "/admin/templates/check", data={"csrf_token": csrf, "source": VERSION_2, "force": "1"}
    )
    assert response.status_code == 422 and "force" in response.text
    assert client.get("/admin/templates?sort=name").status_code == 422
    bad = client.get("/admin/templates/annual-work-plan/1?saved=maybe")
    assert bad.status_code == 422 and "maybe" in bad.text


def test_an_unknown_version_is_not_found(client: TestClient) -> None:
    login(client, COUNTY_ADMIN)
    assert client.get("/admin/templates/annual-work-plan/9").status_code == 404
    assert client.get("/admin/templates/nothing/1").status_code == 404
