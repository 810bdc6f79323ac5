"""The /docs page in headless Chromium (Debian's, driven by playwright-core from tools/web): it lists the
operations of /openapi.json, and its "Try it out" makes a real call to the gateway with a token.

`make test` installs Chromium (make browser) and vendors Swagger UI (make docs-ui); the page's assets
come from the gateway itself: the test also checks that the browser asked no other host for anything.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from npm_projects import node_env, npm_ci

if TYPE_CHECKING:
    from conftest import GatewayProcess

REPO = Path(__file__).resolve().parents[2]
WEB_TOOLS = REPO / "tools" / "web"
CHROMIUM = "/usr/bin/chromium"
# Headless Chromium as root on a machine whose only network is loopback (and package registries).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip

BROWSE = """
const { chromium } = require('playwright-core');
const [base, token, title, executablePath, args, count] = process.argv.slice(1);
(async () => {
  const browser = await chromium.launch({ executablePath, args: JSON.parse(args) });
  try {
    const page = await browser.newPage();
    const hosts = new Set();
    page.on('request', (request) => hosts.add(new URL(request.url()).origin));
    await page.goto(base + '/docs');
    // Tags start closed (docExpansion: none): every tag of the document is listed, and Swagger UI holds
    // every operation; opening a tag shows its operations.
    await page.waitForFunction((n) => document.querySelectorAll('.opblock-tag').length >= n, Number(count),
                               { timeout: 60000 });
    const operations = await page.evaluate(() => {
      const paths = window.ui.specSelectors.specJson().toJS().paths;
      return Object.entries(paths).flatMap(([path, item]) => Object.keys(item).map((verb) => verb.toUpperCase() + ' ' + path));
    });
    await page.click('.opblock-tag[data-tag="ProjectService"]');
    await page.waitForSelector('.opblock', { timeout: 20000 });
    const shown = await page.$$eval('.opblock', (blocks) => blocks.map((block) =>
      block.querySelector('.opblock-summary-method').textContent.trim() + ' ' +
      block.querySelector('.opblock-summary-path').getAttribute('data-path')));

    await page.click('.auth-wrapper button.authorize');
    await page.fill('.auth-container input', token);
    await page.click('.auth-btn-wrapper button.authorize');
    await page.click('.auth-btn-wrapper button.btn-done');

    const list = page.locator('.opblock.opblock-get', { has: page.locator('[data-path="/v1/projects"]') });
    await list.locator('.opblock-summary').click();
    await list.locator('.try-out__btn').click();
    await list.locator('tr[data-param-name="title_eq"] input').fill(title);
    await list.locator('button.execute').click();
    const status = list.locator('.live-responses-table .response .response-col_status');
    await status.waitFor({ timeout: 20000 });
    const body = await list.locator('.live-responses-table .response-col_description .microlight').first().textContent();
    console.log(JSON.stringify({ operations, shown, status: (await status.textContent()).trim(), body, hosts: [...hosts] }));
  } finally {
    await browser.close();
  }
})().catch((error) => { console.error(error); process.exit(1); });
"""


@pytest.fixture(scope="module")
def browser_tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path(CHROMIUM).exists() or shutil.which("node") is None:
        pytest.fail(
            f"{CHROMIUM} or node is missing: `make test` installs Chromium (make browser); Node.js 20+ is needed"
        )
    bin_dir = tmp_path_factory.mktemp("node-bin")
    npm_ci(WEB_TOOLS, bin_dir)
    return bin_dir


def browse(bin_dir: Path, gateway: GatewayProcess, title: str, operations: int) -> dict[str, Any]:
    result = subprocess.run(
        ["node", "-e", BROWSE, gateway.rest_url, gateway.token, title, CHROMIUM, json.dumps(CHROMIUM_ARGS),
         str(operations)],
        capture_output=True, text=True, timeout=120, cwd=WEB_TOOLS, env=node_env(bin_dir, {"HOME": str(bin_dir)}), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_docs_page_lists_every_operation_and_tries_one_out(
    browser_tools: Path, gateway: GatewayProcess, make_title: Any
) -> None:
    title = make_title("docs-page")
    project_hash = gateway.rest("POST", "/v1/projects", body={"title": title}).json()["project_hash"]
    document = gateway.rest("GET", "/openapi.json", token=None).json()
    documented = {f"{verb.upper()} {path}" for path, item in document["paths"].items() for verb in item}

    tags = {op["tags"][0] for item in document["paths"].values() for op in item.values() if op.get("tags")}
    seen = browse(browser_tools, gateway, title, len(tags))
    assert set(seen["operations"]) == documented
    project_service = {
        f"{verb.upper()} {path}"
        for path, item in document["paths"].items()
        for verb, op in item.items()
        if op.get("tags") == ["ProjectService"]
    }
    assert set(seen["shown"]) == project_service  # the opened tag lists its operations
    assert seen["status"] == "200"
    answer = json.loads(seen["body"])
    assert [project["project_hash"] for project in answer["projects"]] == [project_hash]
    assert seen["hosts"] == [gateway.rest_url]  # the page and Swagger UI come from the gateway, no CDN


def test_root_points_to_the_docs_page(gateway: GatewayProcess) -> None:
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(gateway.rest_url + "/", timeout=10)
        raise AssertionError("GET / answered without redirecting")
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302
        assert redirect.headers["Location"] == "/docs"
    page = gateway.rest("GET", "/docs", token=None)
    assert page.status == 200 and "swagger-ui-bundle.js" in page.body.decode()
