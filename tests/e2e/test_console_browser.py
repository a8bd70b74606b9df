"""The web console in a real browser (Playwright driving Debian's Chromium) against a real
relay, two ``node run`` daemons and two ``node console`` processes on loopback.

Skipped, saying why, when /usr/bin/chromium or the playwright package is missing
(``.ci/run`` installs both). Set POCNET_CONSOLE_SCREENSHOTS=1 to refresh docs/images/.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from node.console.formgen import inputs
from node.forms import KINDS
from node.forms.examples import example
from node.forms.registry import fields_for
from tests.e2e.consoleproc import ConsoleProcess, add_officer
from tests.e2e.nodeproc import LocalNetwork

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "night-shift-password"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WAIT_MS = 20_000

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'"
)
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no browser at /usr/bin/chromium: apt-get install chromium (.ci/run does)",
    ),
]
expect = sync_api.expect


class Consoles:
    def __init__(self, net: LocalNetwork, de: ConsoleProcess, fr: ConsoleProcess) -> None:
        self.net, self.de, self.fr = net, de, fr


@pytest.fixture(scope="module")
def consoles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consoles]:
    root = tmp_path_factory.mktemp("console")
    net = LocalNetwork.create(
        root,
        ["FR", "DE"],
        relay_limits={"rate_per_second": 1000.0, "rate_burst": 1000.0},
    )
    add_officer(net["DE"], "anna", PASSWORD, root)
    add_officer(net["DE"], "ben", PASSWORD, root)
    add_officer(net["DE"], "boss", PASSWORD, root, role="supervisor")
    add_officer(net["FR"], "marie", PASSWORD, root)
    with net.running("FR", "DE"):
        de, fr = ConsoleProcess.of(net["DE"]), ConsoleProcess.of(net["FR"])
        with de.running(), fr.running():
            yield Consoles(net, de, fr)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(page: Any, name: str) -> None:
    if os.environ.get("POCNET_CONSOLE_SCREENSHOTS"):
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"console-{name}.png"), full_page=True)


def login(browser: Any, console: ConsoleProcess, name: str) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(console.url + "/login")
    page.get_by_label("Officer name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    return context, page


def send(net: LocalNetwork, kind: str, priority: str) -> str:
    fr = net["FR"]
    body = example(kind, datetime.now(UTC), "FR")
    form = fr.data / f"{kind}-{datetime.now(UTC).timestamp()}.json"
    form.write_text(json.dumps(body))
    # a subprocess: Playwright's sync API holds this thread's event loop
    done = fr.cli(
        "send", "--to", "DE", "--kind", kind, "--form", str(form), "--no-input",
        "--priority", priority, "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["msg_id"])


def unlabelled_inputs(page: Any) -> list[str]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                .filter(e => e.type !== 'hidden' && e.labels.length === 0)
                .map(e => e.outerHTML)"""
        )
    )


def test_an_emergency_arrives_live_is_acknowledged_and_the_sender_sees_it(
    consoles: Consoles, browser: Any
) -> None:
    de_ctx, de = login(browser, consoles.de, "anna")
    expect(de.locator("#alarm")).to_be_hidden()
    shot(de, "login-inbox-empty")
    msg_id = send(consoles.net, "preservation_request", "emergency")
    # live: no reload by the test; the daemon stores it, the SSE feed shows the banner
    banner = de.locator("#alarm")
    expect(banner).to_be_visible(timeout=WAIT_MS)
    expect(banner).to_contain_text("EMERGENCY preservation_request from FR")
    expect(de.locator("#board")).to_contain_text("preservation_request", timeout=WAIT_MS)
    shot(de, "inbox-alarm")
    de.locator("#alarm-list a").first.click()
    expect(de.locator("h1")).to_contain_text("preservation of stored computer data")
    expect(de.locator("table.form")).to_contain_text("Summary of facts")
    shot(de, "message")
    de.get_by_role("button", name="Acknowledge").click()
    expect(de.locator("#state")).to_contain_text("acknowledged")
    expect(de.locator("#alarm")).to_be_hidden(timeout=WAIT_MS)
    answer(de)
    # the sender's console shows the peer's signed ACKNOWLEDGED receipt
    fr_ctx, fr = login(browser, consoles.fr, "marie")
    fr.goto(f"{consoles.fr.url}/messages/{msg_id}")
    timeline = fr.locator("#timeline")
    for _ in range(40):  # bounded: reload until the daemon has fetched the receipt
        if "ACKNOWLEDGED" in timeline.inner_text():
            break
        fr.wait_for_timeout(500)
        fr.reload()
    expect(timeline).to_contain_text("ACKNOWLEDGED")
    expect(fr.locator("text=all valid")).to_be_visible()
    for _ in range(40):  # and DE's answer, in the same conversation
        if fr.locator("#h-replies").count():
            break
        fr.wait_for_timeout(500)
        fr.reload()
    expect(fr.locator("section", has=fr.locator("#h-replies"))).to_contain_text(
        "preservation_response from DE"
    )
    shot(fr, "sender-timeline")
    de_ctx.close()
    fr_ctx.close()


def fill_form(page: Any, kind: str, values: dict[str, Any]) -> None:
    """Type ``values`` into the console's generated ``kind`` form, field by field."""
    for i in inputs(fields_for(KINDS[kind]), values):
        if i.widget == "heading" or i.value in ("", None, ()):
            continue
        field = page.locator(f"[name='{i.name}']")
        if i.widget == "checkboxes":
            for v in i.value:
                page.locator(f"[name='{i.name}'][value='{v}']").check()
        elif i.widget == "select":
            field.select_option(str(i.value))
        else:
            field.fill(str(i.value))


def answer(page: Any) -> None:
    """Answer the open request with the generated form: first empty (inline problems), then
    filled in field by field from the kind's example, checked, confirmed and sent."""
    page.get_by_role("link", name="Answer").click()
    expect(page.get_by_label("Kind of answer")).to_have_value("preservation_response")
    page.get_by_role("button", name="Check the answer").click()
    expect(page.locator("#problems")).to_be_visible()
    assert page.locator("[aria-invalid=true]").count() > 0
    expect(page.locator(".field-error").first).to_be_visible()
    shot(page, "answer-problems")
    assert unlabelled_inputs(page) == []
    fill_form(page, "preservation_response", example("preservation_response", datetime.now(UTC)))
    page.get_by_role("button", name="Check the answer").click()
    expect(page.get_by_role("heading", name="Check before sending")).to_be_visible()
    shot(page, "answer-confirm")
    page.get_by_role("button", name="Send the answer").click()
    # the answer's own page: accepted by the relay, its receipts' timeline
    expect(page.locator("#state")).to_contain_text("accepted")
    expect(page.locator("#timeline")).to_contain_text("ACCEPTED")


def test_unauthenticated_requests_get_the_login_page_never_data(
    consoles: Consoles, browser: Any
) -> None:
    msg_id = send(consoles.net, "ping", "routine")
    context = browser.new_context()
    page = context.new_page()
    for path in ("/", f"/messages/{msg_id}", "/events"):
        response = page.goto(consoles.de.url + path)
        assert response is not None and response.status == 401
        assert msg_id not in page.content() and "Log in" in page.content()
    context.close()


def test_csrf_less_post_is_refused_and_logout_kills_the_cookie(
    consoles: Consoles, browser: Any
) -> None:
    msg_id = send(consoles.net, "ping", "urgent")
    context, page = login(browser, consoles.de, "ben")
    cookies = context.cookies()
    # a POST without the form's CSRF token, with a valid session cookie
    refused = context.request.post(f"{consoles.de.url}/messages/{msg_id}/ack", form={})
    assert refused.status == 403
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="PoCNet 24/7 console")).to_be_visible()
    # the old cookie, put back into a fresh browser, opens nothing
    other = browser.new_context()
    other.add_cookies(cookies)
    replay = other.new_page().goto(consoles.de.url + "/")
    assert replay is not None and replay.status == 401
    other.close()
    context.close()


def test_labels_and_keyboard_navigation(consoles: Consoles, browser: Any) -> None:
    send(consoles.net, "ping", "routine")
    context, page = login(browser, consoles.de, "anna")
    assert unlabelled_inputs(page) == []
    page.get_by_label("Priority").select_option("routine")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"priority=routine"))
    # Tab from the top reaches the first message of the board, then Enter opens it
    page.goto(consoles.de.url + "/")
    for _ in range(40):
        page.keyboard.press("Tab")
        inside = page.evaluate(
            "() => !!document.activeElement.closest('#board') && "
            "document.activeElement.tagName === 'A'"
        )
        if inside:
            break
    assert inside, "the board's links are not reachable with Tab"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Timeline of signed receipts")).to_be_visible()
    assert unlabelled_inputs(page) == []
    page.goto(consoles.de.url + "/login")
    assert unlabelled_inputs(page) == []
    context.close()


def test_the_pdf_button_downloads_a_pdf_to_file(consoles: Consoles, browser: Any) -> None:
    msg_id = send(consoles.net, "preservation_request", "urgent")
    context, page = login(browser, consoles.de, "ben")
    page.goto(f"{consoles.de.url}/messages/{msg_id}")
    button = page.get_by_role("link", name="PDF to file")
    expect(button).to_be_visible()
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.suggested_filename == f"pocnet-{msg_id[:12]}.pdf"
    saved = Path(download.path()).read_bytes()
    assert saved.startswith(b"%PDF-") and b"<html" not in saved[:200]
    # the same URL through the browser's session: application/pdf, never cached
    response = context.request.get(f"{consoles.de.url}/messages/{msg_id}/pdf")
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    context.close()


def test_an_answer_saved_as_draft_is_resumed_from_the_drafts_page(
    consoles: Consoles, browser: Any
) -> None:
    msg_id = send(consoles.net, "preservation_request", "routine")
    context, page = login(browser, consoles.de, "anna")
    page.goto(f"{consoles.de.url}/messages/{msg_id}/respond")
    page.get_by_label("Provider reference").fill("HX-2026-77")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", name="Drafts")).to_be_visible()
    row = page.locator("#drafts tr", has_text=msg_id[:12])
    expect(row).to_contain_text("anna")
    shot(page, "drafts")
    assert unlabelled_inputs(page) == []
    row.get_by_role("link", name="Resume").click()
    expect(page.get_by_label("Provider reference")).to_have_value("HX-2026-77")
    page.get_by_role("link", name="Drafts").click()
    page.locator("#drafts tr", has_text=msg_id[:12]).get_by_role("button", name="Discard").click()
    expect(page.locator("body")).not_to_contain_text(msg_id[:12])
    context.close()


def test_a_new_request_composed_in_the_browser_is_accepted(
    consoles: Consoles, browser: Any
) -> None:
    context, page = login(browser, consoles.de, "anna")
    page.get_by_role("link", name="New request").click()
    expect(page.locator("#counterparts")).to_contain_text("FR")
    assert unlabelled_inputs(page) == []
    shot(page, "compose-pick")
    page.get_by_label("Counterpart").select_option("FR")
    page.get_by_label("Kind of request").select_option("assistance_request")
    page.get_by_role("button", name="Write it").click()
    expect(page.locator("#profile")).to_be_visible()
    page.get_by_role("button", name="Check the request").click()
    expect(page.locator("#problems")).to_be_visible()  # inline, from node send's validator
    assert unlabelled_inputs(page) == []
    shot(page, "compose-problems")
    fill_form(page, "assistance_request", example("assistance_request", datetime.now(UTC), "DE"))
    page.get_by_role("button", name="Check the request").click()
    expect(page.get_by_role("heading", name="Check before sending")).to_be_visible()
    page.get_by_role("button", name="Send the request").click()
    expect(page.locator("#state")).to_contain_text("accepted")
    context.close()


def test_supervisor_pages_are_refused_to_an_officer(consoles: Consoles, browser: Any) -> None:
    context, page = login(browser, consoles.de, "anna")
    assert page.get_by_role("link", name="Access log").count() == 0
    refused = page.goto(consoles.de.url + "/access")
    assert refused is not None and refused.status == 403
    context.close()
    context, page = login(browser, consoles.de, "boss")
    page.get_by_role("link", name="Access log").click()
    expect(page.locator("#access")).to_contain_text("denied")
    expect(page.locator("#access")).to_contain_text("officer:anna")
    shot(page, "access-log")
    page.get_by_role("link", name="Officers").click()
    expect(page.locator("#officers")).to_contain_text("ben")
    assert unlabelled_inputs(page) == []
    shot(page, "officers")
    page.get_by_role("button", name="Disable ben").click()
    expect(page.locator("#officers tr", has_text="ben")).to_contain_text("disabled")
    page.get_by_role("button", name="Enable ben").click()
    expect(page.locator("#officers tr", has_text="ben")).to_contain_text("active")
    context.close()


def test_a_session_survives_a_console_restart(consoles: Consoles, browser: Any) -> None:
    context, page = login(browser, consoles.de, "ben")
    consoles.de.stop()
    consoles.de.start()  # a new process: sessions come from the node's database
    response = page.goto(consoles.de.url + "/")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.locator(".who")).to_contain_text("ben")
    context.close()


def test_statistics_show_server_drawn_charts(consoles: Consoles, browser: Any) -> None:
    send(consoles.net, "assistance_request", "routine")
    context, page = login(browser, consoles.de, "anna")
    page.get_by_role("link", name="Statistics").click()
    charts = page.locator("#charts figure svg")
    expect(charts).to_have_count(4)
    expect(charts.first).to_be_visible()
    assert "assistance_request" in charts.first.inner_html()
    shot(page, "statistics")
    context.close()
