"""The console's pages: each is the shared document and header around its own content, served fresh and script-free."""

from __future__ import annotations

import re

from tests.console.conftest import SignIn

# Each page's URL, the name its nav carries and the scripts it loads, in order.
PAGES = {
    "/console": ("inbox", ["console.js", "inbox.js"]),
    "/console/tickets/T-1": ("ticket", ["console.js", "ticket.js"]),
    "/console/admin": ("admin", ["console.js", "admin.js"]),
    "/console/account": ("account", ["console.js", "account.js"]),
    "/console/phone": ("phone", ["console.js", "phone.js"]),
    "/console/reports": ("reports", ["vendor/chart.umd.min.js", "console.js", "reports.js"]),
    "/console/reports/archive": ("archive", ["console.js", "archive.js"]),
    "/console/client-evaluation": ("client_eval", ["console.js", "client_eval.js"]),
    "/console/keywords": ("keywords", ["console.js", "models.js", "keywords.js"]),
    "/console/settings": ("settings", ["console.js", "settings.js"]),
}
SCRIPT = re.compile(r"<script([^>]*)>")


async def test_every_page_is_the_shared_document_around_its_own_content(signed_in: SignIn) -> None:
    admin = await signed_in("ada", role="admin")
    for path, (name, scripts) in PAGES.items():
        response = await admin.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        html = response.text
        assert html.startswith('<!doctype html>\n<html lang="zh-CN">\n<head>\n  <meta charset="utf-8">'), path
        assert '<link rel="stylesheet" href="/static/console/console.css">' in html
        assert f'<nav data-page="{name}"></nav>' in html and '<button type="button" id="logout"' in html, path
        assert html.count('<p class="flash" id="flash" role="alert" hidden></p>') == 1
        tags = SCRIPT.findall(html)
        assert tags == [f' src="/static/console/{s}" defer' for s in scripts], (path, tags)
        assert html.count("<main") == 1 and html.rstrip().endswith("</main>\n</body>\n</html>"), path


async def test_the_ticket_page_heads_with_its_number_and_the_inbox_warns_of_unstaffed_departments(
    signed_in: SignIn,
) -> None:
    admin = await signed_in("ada", role="admin")
    ticket = (await admin.get("/console/tickets/T-1")).text
    assert '<h1 id="ticket-number"></h1>' in ticket and '<title data-t="title"></title>' in ticket
    inbox = (await admin.get("/console")).text
    assert '<h1 data-t="title"></h1>' in inbox
    assert inbox.index('id="flash"') < inbox.index('id="unstaffed"') < inbox.index("<main")
    reports = (await admin.get("/console/reports")).text
    assert '<title data-t="reports.title"></title>' in reports and '<h1 data-t="reports.title"></h1>' in reports
