"""The dashboard in a real Chromium (Debian's ``chromium``, driven by Playwright).

Each test opens the page the way ``podium serve`` tells a person to (the URL with
``#token=``), does what a person would, fails on any console error, and saves a screenshot
under ``test-artifacts/dashboard/`` (or ``$PODIUM_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright
from served import DEADLINE_S, TOKEN, Served, is_end, sse_events, start_waiting_run

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PODIUM_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "dashboard"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = DEADLINE_S * 1000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail(
                "Debian's chromium is missing: .ci/run installs it (apt-get install chromium)"
            )
        pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(
    browser: Browser, served: Served, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    """A page on the dashboard, signed in; it must log no console error."""
    opened = await browser.new_page(viewport={"width": 1280, "height": 860})
    opened.set_default_timeout(WAIT_MS)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    opened.on("console", on_console)
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    await opened.goto(f"{served.url}/#token={TOKEN}")
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await opened.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
    await opened.close()
    assert problems == []


async def test_start_a_goal_and_watch_its_graph_reach_success(page: Page) -> None:
    await page.get_by_role("button", name="New run").click()
    await page.fill("input[name=goal]", "Compare e-bike makers in Vietnam")
    await page.fill("input[name=model]", "scripted")
    await page.get_by_role("button", name="Start").click()
    await page.wait_for_url("**/#/runs/*")
    await page.wait_for_selector(".run-head [data-status=succeeded]")
    nodes = await page.locator("svg.graph g.node").count()
    assert nodes >= 5  # the plan task, its steps, the answer loop
    assert await page.locator("svg.graph g.node:not([data-status=succeeded])").count() == 0
    await page.click("button[data-tab=timeline]")
    assert await page.locator("svg.timeline g.bar").count() == nodes
    await page.click("button[data-tab=context]")
    assert await page.locator("table.context tr[data-key=research]").count() == 1
    await page.click("button[data-tab=plan]")
    await page.wait_for_selector("section.plan[data-revision='1']")
    await page.click("button[data-tab=claims]")
    assert await page.locator("table.claims tr[data-verdict]").count() >= 1


async def test_approve_a_waiting_task_from_the_queue(
    page: Page, served: Served, client: httpx.AsyncClient
) -> None:
    await page.wait_for_selector("text=No runs yet")
    run_id = await start_waiting_run(served, client)
    # the list updates by itself
    await page.wait_for_selector(f"tr[data-run='{run_id}'] [data-status=waiting]")
    await page.click("nav >> text=Approvals")
    card = page.locator(f"article.approval[data-run='{run_id}'][data-task=send]")
    await card.get_by_role("button", name="Approve").click()
    await card.locator("p.ok", has_text="approved and resumed").wait_for()
    await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("succeeded"))
    await page.goto(f"{served.url}/#/runs/{run_id}")
    await page.wait_for_selector("svg.graph g.node[data-task=send][data-status=succeeded]")
    await page.wait_for_selector(".run-head [data-status=succeeded]")
    detail = (await client.get(f"/v1/runs/{run_id}")).json()
    assert [t["status"] for t in detail["tasks"]] == ["succeeded"] * 3


async def test_the_metrics_page_draws_its_charts(
    page: Page, served: Served, client: httpx.AsyncClient
) -> None:
    run_id = await start_waiting_run(served, client)
    await client.post(f"/v1/runs/{run_id}/approvals/send", json={"approve": True})
    await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("succeeded"))
    served.clock.advance(timedelta(minutes=5))
    await page.click("nav >> text=Metrics")
    await page.wait_for_selector("table.metrics tr[data-group=mailer]")
    charts = page.locator("canvas[data-chart]")
    assert await charts.count() == 5
    drawn = await page.evaluate(
        "() => [...document.querySelectorAll('canvas[data-chart]')]"
        ".map((c) => window.Chart.getChart(c)?.data.datasets.length ?? 0)"
    )
    assert all(count >= 1 for count in drawn), drawn
    assert "1 runs started" in await page.inner_text("main")
