"""The vendored static files are the pinned ones, served from here, and the pages run no inline
script: everything a page executes comes from /static (the CSP allows nothing else)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.core.clock import SimulatedClock
from engine.http.app import create_app
from tests.conftest import START, make_runtime

HTTP = Path(__file__).resolve().parents[2] / "engine" / "http"
STATIC = HTTP / "static"
TEMPLATES = HTTP / "templates"
ROW = re.compile(r"^\| (\S+) \| (\S+) [^|]*\| (\S+) \| (\S+) \| ([0-9a-f]{64}) \|$")


def vendored() -> list[tuple[str, str, str, str, str]]:
    """VENDORED.md's rows: file, package, version, licence, sha256."""
    text = (STATIC / "VENDORED.md").read_text(encoding="utf-8")
    rows = [m.groups() for line in text.splitlines() if (m := ROW.match(line))]
    assert rows, "VENDORED.md has no table of vendored files"
    return rows  # type: ignore[return-value]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    rt = make_runtime(f"sqlite:///{tmp_path / 'unused.db'}", SimulatedClock(START))
    with TestClient(create_app(rt)) as client:
        yield client
    rt.database.dispose()


def test_every_vendored_file_is_the_one_pinned_in_vendored_md() -> None:
    for file, _, _, _, digest in vendored():
        path = STATIC / file
        assert path.is_file(), f"{file} is listed in VENDORED.md but missing"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{file} changed"


def test_the_versions_are_exact_and_the_ones_the_issue_asks_for() -> None:
    versions = {package: version for _, package, version, _, _ in vendored()}
    assert re.fullmatch(r"2\.0\.\d+", versions["htmx.org"])
    assert versions["@picocss/pico"] == "2.1.1"
    htmx = (STATIC / "htmx" / "htmx.min.js").read_text(encoding="utf-8")
    assert f'version:"{versions["htmx.org"]}"' in htmx
    pico = (STATIC / "pico" / "pico.min.css").read_text(encoding="utf-8")
    assert "Pico CSS ✨ v2.1.1" in pico


def test_each_vendored_package_keeps_its_licence() -> None:
    rows = vendored()
    for package in {package for _, package, _, _, _ in rows}:
        files = [file for file, p, _, _, _ in rows if p == package]
        assert any(Path(file).name.startswith("LICENSE") for file in files), package
    assert "Zero-Clause BSD" in (STATIC / "htmx" / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in (STATIC / "pico" / "LICENSE.md").read_text(encoding="utf-8")
    assert "Apache License" in (STATIC / "swagger-ui" / "LICENSE").read_text(encoding="utf-8")


def test_the_docs_page_runs_the_vendored_swagger_ui_under_the_strict_csp(
    client: TestClient,
) -> None:
    versions = {package: version for _, package, version, _, _ in vendored()}
    bundle = (STATIC / "swagger-ui" / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    assert f'PACKAGE_VERSION:"{versions["swagger-ui-dist"]}"' in bundle
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert (
        docs.headers["content-security-policy"]
        == client.get("/login").headers["content-security-policy"]
    )
    assert "'unsafe-inline'" not in docs.headers["content-security-policy"]
    scripts = re.findall(r"<script\b[^>]*>", docs.text)
    assert scripts == [
        '<script src="/static/swagger-ui/swagger-ui-bundle.js" defer>',
        '<script src="/static/docs.js" defer>',
    ]
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", docs.text)
    assert 'data-openapi-url="/openapi.json"' in docs.text
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/redoc").status_code == 404  # it would load ReDoc from a CDN


def test_nothing_under_static_is_unaccounted_for() -> None:
    listed = {file for file, *_ in vendored()}
    ours = {"VENDORED.md", "planflow.js", "planflow.css", "docs.js"}
    present = {str(p.relative_to(STATIC)) for p in STATIC.rglob("*") if p.is_file()}
    assert present == listed | ours


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/static/htmx/htmx.min.js", "javascript"),
        ("/static/pico/pico.min.css", "text/css"),
        ("/static/planflow.js", "javascript"),
        ("/static/planflow.css", "text/css"),
        ("/static/docs.js", "javascript"),
        ("/static/swagger-ui/swagger-ui-bundle.js", "javascript"),
        ("/static/swagger-ui/swagger-ui.css", "text/css"),
    ],
)
def test_the_static_files_are_served(client: TestClient, path: str, kind: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert kind in response.headers["content-type"]
    assert response.content == (STATIC / path.removeprefix("/static/")).read_bytes()


def templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("template", templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_has_inline_script_or_style(template: Path) -> None:
    text = re.sub(r"\{#.*?#\}", "", template.read_text(encoding="utf-8"), flags=re.DOTALL)
    for tag in re.finditer(r"<script\b[^>]*>", text, re.IGNORECASE):
        assert re.search(r"\bsrc=\"/static/", tag.group()), f"inline script: {tag.group()}"
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", text, re.IGNORECASE), "script with a body"
    assert not re.search(r"<style\b", text, re.IGNORECASE), "a <style> element"
    assert not re.search(r"\sstyle\s*=", text, re.IGNORECASE), "a style attribute"
    assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), "an inline event handler"
    assert not re.search(r"\shx-on", text, re.IGNORECASE), "hx-on runs inline code"
    assert "javascript:" not in text.lower()


@pytest.mark.parametrize("template", templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_static_reference_exists(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    for reference in re.findall(r"(?:src|href)=\"/static/([^\"]+)\"", text):
        assert (STATIC / reference).is_file(), reference


def test_base_loads_only_local_assets_and_keeps_the_csrf_token_on_body() -> None:
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", base)
    assert 'data-csrf-token="{{ csrf_token }}"' in base
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", base)
    assert config is not None
    # htmx would otherwise add a <style> element of its own, which the CSP refuses
    assert json.loads(config.group(1))["includeIndicatorStyles"] is False


NODE_CHECK = """
const listeners = {};
global.document = {
  body: {dataset: {csrfToken: process.argv[2] || undefined}},
  addEventListener: (name, f) => { listeners[name] = f; },
};
require(process.argv[1]);
const event = {detail: {headers: {}}};
listeners["htmx:configRequest"](event);
console.log(JSON.stringify(event.detail.headers));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: planflow.js unrun")
@pytest.mark.parametrize(("token", "headers"), [("tok-123", {"X-CSRF-Token": "tok-123"}), ("", {})])
def test_planflow_js_sends_the_csrf_token_on_every_htmx_request(
    token: str, headers: dict[str, str]
) -> None:
    node = shutil.which("node")
    assert node is not None
    script = str(STATIC / "planflow.js")
    run = subprocess.run(
        [node, "-e", NODE_CHECK, script, token], capture_output=True, text=True, check=True
    )
    assert json.loads(run.stdout) == headers
