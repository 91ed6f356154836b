"""The login in a real browser: real Panel and Voila servers on a copy of the demo lake, Debian's Chromium.

Login, lockout, idle timeout and logout; a county manager's every tampering route (URL
parameter, a forged widget message over the websocket) refused; the administrator triad
each seeing exactly their page; CSRF on the login form; HTTPS with a throw-away certificate.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import expect
from conftest import TEST_PASSWORD, copy_lake
from test_dashboards import (
    ARTIFACTS,
    FIRST_PAINT_MS,
    _free_port,
    _login,
    _page_text,
    _serve,
    _stop,
    browser_context_args,  # noqa: F401 (pytest fixture)
    browser_type_launch_args,  # noqa: F401 (pytest fixture)
)

from carbonlib.cli.dashboards import DEFAULT_DASHBOARDS, panel_command, voila_command
from carbonlib.security import Security

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web_lake(small_demo_lake, tmp_path_factory):
    return copy_lake(small_demo_lake, tmp_path_factory.mktemp("web") / "lake")


@pytest.fixture(scope="module")
def panel(web_lake):
    port = _free_port()
    process, handle = _serve(panel_command(DEFAULT_DASHBOARDS, port), web_lake, f"http://127.0.0.1:{port}/login",
                             ARTIFACTS / "panel-security.log")
    yield f"http://127.0.0.1:{port}"
    _stop(process, handle)


@pytest.fixture(scope="module")
def voila(web_lake):
    port = _free_port()
    process, handle = _serve(voila_command(DEFAULT_DASHBOARDS, port, pool_size=1), web_lake,
                             f"http://127.0.0.1:{port}/login", ARTIFACTS / "voila-security.log")
    yield f"http://127.0.0.1:{port}"
    _stop(process, handle)


def _admin_login(page, base: str, user: str, secret: str, then: str) -> None:
    page.goto(f"{base}/login?lang=en&next={urllib.parse.quote(then)}", timeout=FIRST_PAINT_MS)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}", timeout=FIRST_PAINT_MS)


def _audit(lake, **filters) -> list:
    with Security.open(lake) as security:
        return security.audit.entries(**filters)


def test_wrong_passwords_lock_the_account_in_the_browser(page, panel, web_lake):
    for attempt in range(5):
        page.goto(f"{panel}/login?lang=en", timeout=FIRST_PAINT_MS)
        page.fill("input[name=username]", "t-two-counties")
        page.fill("input[name=password]", f"Wrong-{attempt}-pass")
        page.click("button[type=submit]")
        refused = page.locator("[data-testid=refused]").first
        refused.wait_for(timeout=30_000)
    assert "locked for 10 minutes" in refused.inner_text()
    page.goto(f"{panel}/login?lang=en", timeout=FIRST_PAINT_MS)
    page.fill("input[name=username]", "t-two-counties")
    page.fill("input[name=password]", TEST_PASSWORD)  # the right password no longer opens it
    page.click("button[type=submit]")
    expect(page.locator("[data-testid=refused]").first).to_contain_text("locked after 5 failed logins", timeout=FIRST_PAINT_MS)
    assert any(e.detail == "locked out" for e in _audit(web_lake, actor="t-two-counties", action="login"))


def test_idle_timeout_then_logout_and_a_replayed_cookie(page, panel, web_lake):
    _login(page, panel, "t-changsha-county", "/overview?lang=en")
    page.locator("[data-org='D430121']").first.wait_for(timeout=FIRST_PAINT_MS)
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "carbon_session")
    from carbonlib.security.sessions import token_hash

    with Security.open(web_lake) as security, security.store.transaction() as tx:  # 16 minutes pass
        stamp = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        tx.run("UPDATE sessions SET last_seen = ? WHERE session_hash = ?", [stamp, token_hash(token)])
    page.locator("select").nth(1).select_option("2025-03")  # the next action of the user
    refused = page.locator("[data-testid=refused]").first
    refused.wait_for(timeout=30_000)
    assert "idle timeout" in refused.inner_text()

    _login(page, panel, "t-changsha-county", "/logout?lang=en")
    old = next(c["value"] for c in page.context.cookies() if c["name"] == "carbon_session")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/login.*"), timeout=30_000)
    page.context.add_cookies([{"name": "carbon_session", "value": old, "url": panel}])  # replay the old cookie
    page.goto(f"{panel}/overview?lang=en", timeout=FIRST_PAINT_MS)
    assert "/login" in page.url
    assert any(e.action == "logout" for e in _audit(web_lake, actor="t-changsha-county"))


def test_a_county_manager_cannot_reach_another_county_by_any_route(page, panel, web_lake):
    _login(page, panel, "t-changsha-county", "/overview?org=D430181&lang=en")  # by URL
    page.locator("[data-testid=refused]").first.wait_for(timeout=FIRST_PAINT_MS)
    page.locator("[data-org='D430121']").first.wait_for(timeout=30_000)
    # by a forged widget message: the browser sets the org selector to another county's id
    page.evaluate("""() => { const doc = Object.values(Bokeh.index)[0].model.document;
        const select = [...doc._all_models.values()].find(m => m.options !== undefined && m.value === 'D430121');
        select.value = 'D430181'; }""")
    page.wait_for_timeout(2000)  # the server's answer to the forged message
    text = _page_text(page)
    assert "Liuyang" not in text and "D430181 ·" not in text
    assert page.locator("[data-org='D430181']").count() == 0
    denied = _audit(web_lake, actor="t-changsha-county", outcome="denied")
    assert any(e.org_id == "D430181" for e in denied)


def test_the_triad_each_see_exactly_their_page(page, panel, totp_secrets):
    _admin_login(page, panel, "t-sysadmin", totp_secrets["t-sysadmin"], "/admin?lang=en")
    page.get_by_role("button", name="create").wait_for(timeout=FIRST_PAINT_MS)
    assert page.get_by_role("button", name="grant").count() == 0 and page.get_by_role("button", name="unlock").count()
    page.goto(f"{panel}/audit?lang=en", timeout=FIRST_PAINT_MS)
    expect(page.locator("[data-testid=refused]").first).to_contain_text("needs the role auditor", timeout=FIRST_PAINT_MS)
    page.goto(f"{panel}/explorer?lang=en", timeout=FIRST_PAINT_MS)
    expect(page.locator("[data-testid=refused]").first).to_contain_text("may not view figures", timeout=FIRST_PAINT_MS)

    page.context.clear_cookies()
    _admin_login(page, panel, "t-secadmin", totp_secrets["t-secadmin"], "/admin?lang=en")
    page.get_by_role("button", name="grant").wait_for(timeout=FIRST_PAINT_MS)
    assert page.get_by_role("button", name="create").count() == 0 and page.get_by_role("button", name="set policy").count()

    page.context.clear_cookies()
    _admin_login(page, panel, "t-auditor", totp_secrets["t-auditor"], "/audit?lang=en")
    page.get_by_role("button", name="verify").click()
    done = page.locator("[data-testid=done]").first
    done.wait_for(timeout=FIRST_PAINT_MS)
    assert "intact" in done.inner_text()
    page.goto(f"{panel}/admin?lang=en", timeout=FIRST_PAINT_MS)
    expect(page.locator("[data-testid=refused]").first).to_contain_text("needs the role", timeout=FIRST_PAINT_MS)
    page.goto(f"{panel}/overview?lang=en", timeout=FIRST_PAINT_MS)
    expect(page.locator("[data-testid=refused]").first).to_contain_text("may not view figures", timeout=FIRST_PAINT_MS)


def test_the_voila_overview_knows_the_login_and_refuses_the_public(page, voila):
    page.goto(f"{voila}/voila/render/overview.ipynb?lang=en", timeout=FIRST_PAINT_MS)
    expect(page.locator("[data-testid=refused]").first).to_contain_text("needs a login", timeout=FIRST_PAINT_MS)
    _login(page, voila, "t-liuyang", "/voila/render/overview.ipynb?org=D430121&lang=en")
    page.locator("[data-org='D430181']").first.wait_for(timeout=FIRST_PAINT_MS)  # clamped to its own county
    assert "Changsha County" not in _page_text(page)


def test_voila_lets_a_page_use_its_kernel_and_nothing_else_of_the_jupyter_api():
    """The authorizer Voila runs with (``--Voila.authorizer_class``): the page's kernel channel only."""
    from jupyter_server.auth.identity import User

    from carbonlib.viz.serve import VoilaAuthorizer, voila_argv

    assert "--Voila.authorizer_class=carbonlib.viz.serve.VoilaAuthorizer" in voila_argv(DEFAULT_DASHBOARDS, 8866, 1)
    authorizer = VoilaAuthorizer()
    for user in (User(username="t-province"), User(username="anonymous")):
        assert authorizer.is_authorized(None, user, "execute", "kernels")
        assert authorizer.is_authorized(None, user, "read", "kernels")
        for action, resource in (("write", "kernels"), ("read", "contents"), ("write", "contents"),
                                 ("read", "sessions"), ("execute", "terminals"), ("read", "api")):
            assert not authorizer.is_authorized(None, user, action, resource), (action, resource)


def test_the_login_form_needs_its_csrf_token(panel):
    form = urllib.parse.urlencode({"username": "t-province", "password": TEST_PASSWORD}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{panel}/login", data=form), timeout=60)
    assert refused.value.code == 403 and b"CSRF" in refused.value.read()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return certfile, keyfile


def test_https_with_a_throw_away_certificate_and_a_secure_cookie(web_lake, tmp_path):
    certfile, keyfile = _self_signed(tmp_path)
    port = _free_port()
    argv = panel_command(DEFAULT_DASHBOARDS, port) + ["--certfile", str(certfile), "--keyfile", str(keyfile)]
    context = ssl.create_default_context(cafile=str(certfile))
    base = f"https://127.0.0.1:{port}"
    import test_dashboards

    process, handle = test_dashboards._serve(argv, web_lake, f"http://127.0.0.1:{port}/", ARTIFACTS / "panel-tls.log",
                                             ready=lambda: urllib.request.urlopen(f"{base}/login", context=context,
                                                                                  timeout=5))
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                             urllib.request.HTTPCookieProcessor(jar))
        form = opener.open(f"{base}/login", timeout=60).read().decode()
        csrf = re.search(r'name="_csrf" value="([^"]+)"', form).group(1)
        data = urllib.parse.urlencode({"username": "t-province", "password": TEST_PASSWORD, "_csrf": csrf,
                                       "next": "/login"}).encode()
        opener.open(urllib.request.Request(f"{base}/login", data=data), timeout=60)
        session = next(c for c in jar if c.name == "carbon_session")
        assert session.secure, "over HTTPS the session cookie must be Secure"
        with pytest.raises(OSError):  # refused or reset: no plain HTTP beside it
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10)
    finally:
        _stop(process, handle)


def test_health_answers_without_login_and_the_status_page_is_the_system_administrators(page, panel, voila,
                                                                                         totp_secrets):
    """``GET /health`` on both servers: statuses only (no details without a login), both servers seen up; the
    status page shows the system administrator every check with its fix, in en and zh; the auditor is refused."""
    import json

    for base in (panel, voila):
        with urllib.request.urlopen(f"{base}/health", timeout=120) as response:  # warn (no scheduler, no backup): 200
            assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
            shown = json.loads(response.read())
        checks = {c["name"]: c for c in shown["checks"]}
        assert shown["status"] == "warn" and checks["scheduler"]["status"] == "warn"
        assert checks["servers"]["status"] == "ok" and checks["catalog"]["status"] == "ok"
        assert all(set(c) == {"name", "status"} for c in shown["checks"])  # messages and figures need the login

    _admin_login(page, panel, "t-sysadmin", totp_secrets["t-sysadmin"], "/status?lang=en")
    banner = page.locator("[data-testid=status]").first
    banner.wait_for(timeout=FIRST_PAINT_MS)
    assert banner.get_attribute("data-status") == "warn" and "Platform status: warning" in banner.inner_text()
    scheduler = page.locator("tr[data-check=scheduler]").first
    assert scheduler.get_attribute("data-status") == "warn"
    assert "no scheduler has ever served this lake" in scheduler.inner_text()
    assert "carbon pipelines serve" in scheduler.inner_text()
    servers = page.locator("tr[data-check=servers]").first.inner_text()
    assert "panel 127.0.0.1" in servers and "voila 127.0.0.1" in servers
    page.screenshot(path=str(ARTIFACTS / "status-en.png"), full_page=True)
    page.goto(f"{panel}/status?lang=zh", timeout=FIRST_PAINT_MS)
    page.locator("[data-testid=status]").first.wait_for(timeout=FIRST_PAINT_MS)
    assert "从未有调度器为此湖运行" in page.locator("tr[data-check=scheduler]").first.inner_text()
    assert "平台状态" in page.locator("[data-testid=status]").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "status-zh.png"), full_page=True)

    page.context.clear_cookies()
    _admin_login(page, panel, "t-auditor", totp_secrets["t-auditor"], "/status?lang=en")
    expect(page.locator("[data-testid=refused]").first).to_contain_text("needs the role sysadmin",
                                                                         timeout=FIRST_PAINT_MS)
