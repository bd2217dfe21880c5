"""Accounts and sessions (issue 18): idle and absolute session limits, polling that keeps no session
alive, the password policy, the password change an administrator's password forces, the last-login
notice, and the audit events of all of these."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from axes.models import AccessLog
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from monitoring.models import AuditRecord, ExcursionReportFile
from tests.factories import PASSWORD, make_user
from users.sessions import LAST_ACTIVITY_KEY, STARTED_KEY

IDLE_MESSAGE = "Your session ended after 15 minutes without activity."
GOOD_PASSWORD = "violet tundra lantern 58"


def log_in(client, username: str = "qa", password: str = PASSWORD, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def set_session_times(client, **times: datetime) -> None:
    """Move the session's clocks (``started``, ``last_activity``) as if time had passed."""
    keys = {"started": STARTED_KEY, "last_activity": LAST_ACTIVITY_KEY}
    session = client.session
    for name, moment in times.items():
        session[keys[name]] = moment.isoformat()
    session.save()


def ago(**span) -> datetime:
    return timezone.now() - timedelta(**span)


def queued_report(user) -> ExcursionReportFile:
    """A report no worker builds: its page polls every 2 s, as long as it is open."""
    now = timezone.now()
    return ExcursionReportFile.objects.create(
        requested_by=user, start=now - timedelta(days=7), end=now, expires_at=now + timedelta(days=1)
    )


def poll(client, url: str, page: str):
    """What htmx sends for ``hx-trigger="every 2s"`` (static/js/app.js adds X-Poll)."""
    return client.get(
        url, headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{page}", "X-Poll": "1"}
    )


def audit_actions(user) -> list[str]:
    """The user's account events in the audit trail (without the field changes each save records)."""
    records = AuditRecord.objects.filter(model="auth.user", object_id=str(user.pk)).order_by("at", "id")
    records = records.exclude(action__in=["create", "update"])
    return list(records.values_list("action", flat=True))


# -- Idle timeout and absolute age --------------------------------------------------------------------


@pytest.mark.django_db
def test_an_idle_session_ends_and_the_login_page_says_why(client):
    user = make_user("qa")
    log_in(client)
    assert client.get("/").status_code == 200

    set_session_times(client, last_activity=ago(minutes=14))
    assert client.get("/").status_code == 200  # not idle long enough yet: and this request is activity

    set_session_times(client, last_activity=ago(minutes=15, seconds=1))
    response = client.get("/devices/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/devices/"
    page = client.get(response["Location"]).content.decode()
    assert IDLE_MESSAGE in page
    assert 'name="password"' in page

    assert client.get("/").status_code == 302  # logged out for good
    expired = AuditRecord.objects.get(action="session_end", object_id=str(user.pk))
    assert expired.username == "qa"
    assert "15 minutes without activity" in expired.reason
    assert "logout" not in audit_actions(user)  # an expiry, not a logout by the user


@pytest.mark.django_db
def test_the_idle_timeout_is_a_setting(client, settings):
    settings.SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
    make_user("qa")
    log_in(client)
    set_session_times(client, last_activity=ago(minutes=20))
    assert client.get("/").status_code == 200
    set_session_times(client, last_activity=ago(minutes=31))
    response = client.get("/", follow=True)
    assert "Your session ended after 30 minutes without activity." in response.content.decode()


@pytest.mark.django_db
def test_a_session_older_than_the_maximum_age_ends_even_while_active(client):
    user = make_user("qa")
    log_in(client)
    set_session_times(client, started=ago(hours=11, minutes=59))
    for _ in range(3):  # active all along: every request is activity
        assert client.get("/").status_code == 200

    set_session_times(client, started=ago(hours=12, seconds=1))
    response = client.get("/alerts/", follow=True)
    assert response.redirect_chain[0] == ("/login/?next=/alerts/", 302)
    assert "Your session ended: a login lasts at most 12 hours." in response.content.decode()
    expired = AuditRecord.objects.get(action="session_end", object_id=str(user.pk))
    assert "12 hours" in expired.reason


@pytest.mark.django_db
def test_polling_does_not_keep_a_session_alive(client):
    user = make_user("qa")
    log_in(client)
    report = queued_report(user)
    page = f"/excursions/report/{report.pk}/"
    assert client.get(page).status_code == 200

    idle_since = ago(minutes=14)
    set_session_times(client, last_activity=idle_since)
    for _ in range(3):
        answer = poll(client, page, page)
        assert answer.status_code == 200
        assert 'id="report-progress"' in answer.content.decode()
    assert client.session[LAST_ACTIVITY_KEY] == idle_since.isoformat()  # the polls moved nothing

    set_session_times(client, last_activity=ago(minutes=15, seconds=1))
    answer = poll(client, page, page)
    # The browser loads the login page whole, and comes back to the report's page after the login.
    assert answer["HX-Redirect"] == f"/login/?next={page}"
    assert 'name="password"' not in answer.content.decode()
    assert IDLE_MESSAGE in client.get("/login/").content.decode()
    assert "session_end" in audit_actions(user)


@pytest.mark.django_db
def test_an_htmx_request_the_user_made_is_activity(client):
    make_user("qa")
    log_in(client)
    set_session_times(client, last_activity=ago(minutes=14))
    answer = client.get("/alerts/", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    last_activity = datetime.fromisoformat(client.session[LAST_ACTIVITY_KEY])
    assert timezone.now() - last_activity < timedelta(minutes=1)


@pytest.mark.django_db
def test_an_htmx_request_without_a_login_loads_the_login_page_whole(client):
    answer = client.get(
        "/sync/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/sync/?x=1"}
    )
    assert answer.status_code == 200
    assert answer["HX-Redirect"] == "/login/?next=/sync/%3Fx%3D1"
    assert answer.content == b""


# -- Password policy ---------------------------------------------------------------------------------


REFUSED = [
    ("Tr0ub4dor&3", "This password is too short. It must contain at least 12 characters."),
    ("qwertyuiop123", "This password is too common."),
    ("margaretsmith1", "The password is too similar to the username."),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("password", "error"), REFUSED)
def test_the_password_change_page_refuses_a_weak_password(client, password, error):
    user = make_user("margaretsmith")
    client.force_login(user)
    response = client.post(
        "/password/", {"old_password": PASSWORD, "new_password1": password, "new_password2": password}
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.django_db
def test_the_minimum_length_is_a_setting(client, settings):
    settings.AUTH_PASSWORD_VALIDATORS = [
        {
            "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
            "OPTIONS": {"min_length": 16},
        }
    ]
    client.force_login(make_user("qa"))
    password = "violet tundra 58"[:15]
    response = client.post(
        "/password/", {"old_password": PASSWORD, "new_password1": password, "new_password2": password}
    )
    assert "at least 16 characters" in response.content.decode()


@pytest.mark.django_db
def test_the_password_change_page_shows_the_policy_and_accepts_a_good_password(client):
    user = make_user("qa")
    client.force_login(user)
    page = client.get("/password/").content.decode()
    assert "at least 12 characters" in page
    assert "commonly used password" in page

    response = client.post(
        "/password/",
        {"old_password": PASSWORD, "new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(GOOD_PASSWORD)
    assert client.get("/").status_code == 200  # still logged in
    changed = AuditRecord.objects.get(action="password", object_id=str(user.pk))
    assert changed.username == "qa"
    assert GOOD_PASSWORD not in str(changed.changes)


@pytest.fixture
def root_client(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", PASSWORD))
    return client


@pytest.mark.parametrize(("password", "error"), REFUSED)
def test_the_admin_refuses_a_weak_password_for_a_new_user(root_client, password, error):
    response = root_client.post(
        "/admin/auth/user/add/",
        {
            "username": "margaretsmith",
            "usable_password": "true",
            "password1": password,
            "password2": password,
        },
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not User.objects.filter(username="margaretsmith").exists()


@pytest.mark.parametrize(("password", "error"), REFUSED)
def test_the_admin_refuses_a_weak_password_for_an_existing_user(root_client, password, error):
    user = make_user("margaretsmith")
    response = root_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"usable_password": "true", "password1": password, "password2": password},
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# -- A password an administrator set must be replaced ------------------------------------------------


def test_a_user_the_admin_created_must_change_the_password_at_the_first_login(root_client):
    response = root_client.post(
        "/admin/auth/user/add/",
        {
            "username": "bob",
            "usable_password": "true",
            "password1": GOOD_PASSWORD,
            "password2": GOOD_PASSWORD,
        },
    )
    assert response.status_code == 302
    bob = User.objects.get(username="bob")
    required = AuditRecord.objects.get(action="pw_required", object_id=str(bob.pk))
    assert required.username == "root"

    browser = Client()
    log_in(browser, "bob", GOOD_PASSWORD)
    for url in ("/", "/alerts/", "/admin/", "/admin/password_change/"):
        response = browser.get(url, follow=True)
        assert response.redirect_chain[-1][0] == "/password/", url
        assert "An administrator set your password. Choose your own password to go on." in (
            response.content.decode()
        )
    fragment = browser.get("/alerts/", headers={"HX-Request": "true"})
    assert fragment["HX-Redirect"] == "/password/"

    new_password = "copper meadow signal 77"
    response = browser.post(
        "/password/",
        {"old_password": GOOD_PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert response["Location"] == "/"
    assert browser.get("/").status_code == 200
    assert browser.get("/alerts/").status_code == 200
    assert "Choose your own password" not in browser.get("/password/").content.decode()
    assert audit_actions(bob)[-3:] == ["login", "password", "pw_cleared"]

    # The requirement is over for the next logins too.
    browser.post("/logout/")
    log_in(browser, "bob", new_password)
    assert browser.get("/").status_code == 200


def test_a_password_the_admin_set_for_a_user_must_be_changed(root_client):
    user = make_user("carol")
    response = root_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"usable_password": "true", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
    )
    assert response.status_code == 302
    assert audit_actions(user)[-2:] == ["password", "pw_required"]

    browser = Client()
    log_in(browser, "carol", GOOD_PASSWORD)
    assert browser.get("/")["Location"] == "/password/"


def test_an_administrator_setting_their_own_password_in_the_admin_is_not_forced(root_client):
    root = User.objects.get(username="root")
    response = root_client.post(
        f"/admin/auth/user/{root.pk}/password/",
        {"usable_password": "true", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
    )
    assert response.status_code == 302
    assert root_client.get("/").status_code == 200
    assert "pw_required" not in audit_actions(root)
    # The admin's own "Change password" link leads to the one password page, with its audit events.
    assert root_client.get("/admin/password_change/")["Location"] == "/password/"


# -- What the user is told at login ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("zone", "shown"), [(None, "15 Nov 2026 14:02 UTC"), ("Europe/Helsinki", "15 Nov 2026 16:02 EET")]
)
def test_the_user_sees_the_last_login_and_the_failed_attempts_since(client, zone, shown):
    make_user("qa")
    first = log_in(client, REMOTE_ADDR="10.0.0.5")
    assert "No earlier login on record. No failed attempts since the account was created." in (
        client.get(first["Location"]).content.decode()
    )
    client.post("/logout/")
    AccessLog.objects.filter(username="qa").update(attempt_time=datetime(2026, 11, 15, 14, 2, tzinfo=UTC))

    for _ in range(3):
        refused = log_in(client, password="not the password", REMOTE_ADDR="192.0.2.66")
        assert refused.status_code == 200
    if zone:
        client.cookies["timezone"] = zone
    response = log_in(client, REMOTE_ADDR="10.0.0.7")
    page = client.get(response["Location"]).content.decode()
    assert f"Last login: {shown} from 10.0.0.5. 3 failed attempts since." in page
    assert "Last login" not in client.get("/").content.decode()  # once

    client.post("/logout/")
    log_in(client, REMOTE_ADDR="10.0.0.7")
    assert "from 10.0.0.7. No failed attempts since." in client.get("/").content.decode()


@pytest.mark.django_db
def test_logins_and_logouts_are_in_the_audit_trail(client):
    user = make_user("qa")
    log_in(client, REMOTE_ADDR="10.0.0.5")
    client.post("/logout/")
    assert audit_actions(user)[-2:] == ["login", "logout"]
    login = AuditRecord.objects.get(action="login", object_id=str(user.pk))
    assert login.changes == {"address": [None, "10.0.0.5"]}
    assert login.username == "qa"


# -- In a real browser -------------------------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture
def browser(monkeypatch):
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        yield chromium
        chromium.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_polling_page_left_alone_lands_on_the_login_page_with_the_reason(live_server, browser, settings):
    # Seconds instead of minutes, so that the test waits for the real thing: the page keeps polling every
    # 2 s, and the session still ends after 5 s without the user doing anything.
    settings.SESSION_IDLE_TIMEOUT = timedelta(seconds=5)
    user = make_user("qa")
    report = queued_report(user)
    page = browser.new_context().new_page()
    polls = []
    page.on(
        "request",
        lambda request: (
            polls.append(request.headers.get("x-poll")) if "hx-request" in request.headers else None
        ),
    )

    page.goto(f"{live_server.url}/excursions/report/{report.pk}/")
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/excursions/report/{report.pk}/")
    page.wait_for_url(f"{live_server.url}/login/**", timeout=20_000)

    assert len(polls) >= 2 and set(polls) == {"1"}  # it polled, and every poll said so
    assert page.locator("h1").inner_text() == "Log in"  # the whole page, not a fragment
    assert page.locator("#report-progress").count() == 0
    assert "Your session ended after 5 seconds without activity." in page.locator("main").inner_text()

    # Logging in again leads back to the report.
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/excursions/report/{report.pk}/")
