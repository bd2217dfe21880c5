"""What an attack on the running product found (issue 16), each checked over real HTTP: pages kept out
of caches, the login throttle by user name and by address, long user names, throttled e-signatures,
rate-limited error emails, bad admin filters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

import pytest
import requests
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.core import mail
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.urls import include, path

from monitoring.models import AuditRecord, Channel, Excursion, VendorAlert
from tests.conftest import FIXED_NOW
from tests.factories import PASSWORD, csrf_headers, http_session, make_account, make_user
from tests.test_notifications import free_port, smtp_inbox  # noqa: F401 (a fixture)
from tests.test_settings import ROOT
from vendors.models import VendorAccount

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def production_server(smtp_inbox):  # noqa: F811
    """gunicorn with production settings (DJANGO_DEBUG=0) on this test's database; error emails go to
    ADMINS through the real SMTP server of ``smtp_inbox``. Plain HTTP on loopback, as behind a proxy."""
    db = connection.settings_dict
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "CREDENTIALS_KEYS": ",".join(settings.CREDENTIALS_KEYS),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "COOKIES_SECURE": "0",
        "ADMINS": "Ops <ops@example.com>",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(settings.EMAIL_PORT),
        "COLDCHAIN_DATA_DIR": tempfile.mkdtemp(prefix="coldchain-production-"),
        "COLDCHAIN_TESTING": "1",  # static files without a collectstatic manifest; nothing else changes
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "coldchain.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--log-level", "warning"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(environment["COLDCHAIN_DATA_DIR"], "gunicorn.log"), "w"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/login/", timeout=30)
                break
            except requests.RequestException:
                assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(environment["COLDCHAIN_DATA_DIR"], ignore_errors=True)


def test_pages_for_a_logged_in_user_are_never_stored_by_a_cache(live_server):
    make_user("qa")
    device = make_account().devices.create(vendor_id="d1", name="Fridge 1")
    base = live_server.url
    anonymous = requests.get(f"{base}/static/css/app.css", timeout=30)
    assert "no-store" not in anonymous.headers.get("Cache-Control", "")
    session = http_session(base)
    for page in ["/", "/alerts/", "/audit/", f"/devices/{device.pk}/", f"/devices/{device.pk}/readings.csv"]:
        answer = session.get(base + page, timeout=30)
        assert answer.status_code == 200, page
        assert "no-store" in answer.headers["Cache-Control"] and "private" in answer.headers["Cache-Control"]


def test_the_account_form_never_shows_typed_credentials_back_after_an_error(live_server):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    base = live_server.url
    session = http_session(base, "root")
    secret = "CANARY-typed-4f8e2a9c"
    form = {
        "vendor": "tandd",
        "name": "Lab",
        "timezone": "UTC",
        "enabled": "on",
        "sync_interval": "00:05:00",
        # A wrong key: the form comes back with an error.
        "new_credentials": f"api_key={secret}\nlogin_id=tbzz9999\npassword={secret}",
        "csrfmiddlewaretoken": session.cookies["csrftoken"],
    }
    answer = session.post(
        f"{base}/admin/vendors/vendoraccount/add/", data=form, headers={"Referer": base}, timeout=30
    )
    assert answer.status_code == 200 and "Unknown key" in answer.text
    assert secret not in answer.text and 'name="new_credentials"' in answer.text
    assert not VendorAccount.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/monitoring/vendoralert/?started_at__year=99999",
        "/admin/monitoring/vendoralert/?started_at__gte=99999-01-01",
        "/admin/monitoring/excursion/?started_at__gte=99999-01-01",
        "/admin/monitoring/excursion/?started_at__year=99999",
        "/admin/monitoring/reading/?timestamp__lt=99999-01-01T00:00",
        "/admin/axes/accessattempt/?attempt_time__year=99999",
    ],
)
def test_a_huge_year_in_an_admin_filter_is_a_bad_request(live_server, path):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    session = http_session(live_server.url, "root")
    answer = session.get(live_server.url + path, timeout=30)
    assert answer.status_code == 400
    assert "A filter in the address cannot be used" in answer.text
    assert session.get(live_server.url + path.split("?")[0], timeout=30).status_code == 200
    good = session.get(f"{live_server.url}/admin/monitoring/vendoralert/?started_at__year=2026", timeout=30)
    assert good.status_code == 200


# -- Anonymous users cannot cause a 500 or flood the administrators' inbox ------------------------------


def test_an_overlong_user_name_is_a_bad_request_in_production_and_mails_nobody(production_server, smtp_inbox):  # noqa: F811
    base = production_server
    make_user("qa")
    session = requests.Session()
    for page in ("/login/", "/admin/login/"):
        session.get(base + page, timeout=30)
        form = {"username": "a" * 300, "password": "x", "csrfmiddlewaretoken": session.cookies["csrftoken"]}
        answer = session.post(base + page, data=form, timeout=30)
        assert answer.status_code == 400, page
        assert "A user name has at most 150 characters" in answer.text
    wrong = {"username": "qa", "password": "wrong", "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    assert (
        session.post(f"{base}/login/", data=wrong, timeout=30).status_code == 200
    )  # the throttle still counts
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["qa"]
    assert smtp_inbox.messages == []


@login_not_required
def failing_view(request):
    raise RuntimeError("a bug anybody can trigger")


urlpatterns = [path("boom/", failing_view), path("", include("coldchain.urls"))]


@pytest.mark.urls("tests.test_http_hardening")
def test_error_emails_to_the_administrators_are_rate_limited(live_server, settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.ERROR_EMAILS_LIMIT = 3
    settings.ERROR_EMAILS_PERIOD_MINUTES = 60 * 24 * 365  # one period for the whole test
    window = int(time.time() // (settings.ERROR_EMAILS_PERIOD_MINUTES * 60))
    key = f"coldchain:error-emails:{settings.ERROR_EMAILS_PERIOD_MINUTES * 60}:{window}"
    cache.delete(key)
    mail.outbox.clear()
    try:
        answers = [requests.get(f"{live_server.url}/boom/", timeout=30).status_code for _ in range(8)]
    finally:
        cache.delete(key)
    assert answers == [500] * 8
    assert len(mail.outbox) == 3
    assert all("a bug anybody can trigger" in message.body for message in mail.outbox)


# -- The login throttle: by user name (any address) and by address (any user name) ----------------------


def log_in_over_http(base: str, username: str, password: str, address: str) -> int:
    """A login from ``address`` (the proxy in front of us, trusted, says so in X-Forwarded-For)."""
    session = requests.Session()
    session.get(f"{base}/login/", timeout=30)
    form = {"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    answer = session.post(
        f"{base}/login/", data=form, headers={"X-Forwarded-For": address}, allow_redirects=False, timeout=30
    )
    return answer.status_code


def test_a_locked_user_name_stays_locked_from_a_second_address(live_server, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("alice")
    base = live_server.url
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in_over_http(base, "alice", "wrong", "198.51.100.1")
    assert log_in_over_http(base, "alice", PASSWORD, "203.0.113.50") == 429
    assert log_in_over_http(base, "alice", PASSWORD, "192.0.2.77") == 429


def test_a_password_sprayed_over_many_user_names_locks_the_address(live_server, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
    settings.TRUSTED_PROXY_COUNT = 1
    base = live_server.url
    users = [make_user(f"user{n}").get_username() for n in range(settings.AXES_FAILURE_LIMIT + 2)]
    answers = [log_in_over_http(base, name, "Summer2026!", "198.51.100.9") for name in users]
    # One try per user name: no user name reaches the limit, but the address does (at the limit-th try).
    limit = settings.AXES_FAILURE_LIMIT
    assert answers == [200] * (limit - 1) + [429] * (len(users) - limit + 1)
    assert log_in_over_http(base, users[0], PASSWORD, "198.51.100.9") == 429  # even a right password
    assert log_in_over_http(base, users[0], PASSWORD, "203.0.113.8") == 302  # the user elsewhere: fine


# -- E-signatures are throttled like logins -----------------------------------------------------------


def test_refused_signatures_are_audited_and_lock_the_signer_out_like_failed_logins(
    live_server,
    smtp_inbox,  # noqa: F811
    settings,
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
    make_user("boss", role="Admin")
    signer = make_user("qa")
    device = make_account().devices.create(vendor_id="d1", name="Fridge 1")
    channel = Channel.objects.create(device=device, name="t", quantity="temperature", unit="C")
    excursion = Excursion.objects.create(channel=channel, started_at=FIXED_NOW - timedelta(hours=1))
    base = live_server.url
    session = http_session(base)
    sign = f"{base}/excursions/{excursion.pk}/acknowledge/"

    def attempt(password: str) -> requests.Response:
        data = {"comment": "Door closed", "username": "qa", "password": password}
        return session.post(sign, data=data, headers=csrf_headers(session, base), allow_redirects=False)

    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        refused = attempt(f"guess-{n}")
        assert refused.status_code == 400 and "Signature refused" in refused.text
    locked = attempt("one guess too many")
    assert locked.status_code == 429 and "Too many failed logins" in locked.text

    # The session has ended; the right password no longer signs anything...
    assert session.get(f"{base}/", allow_redirects=False).status_code == 302
    after = attempt(PASSWORD)
    assert after.status_code == 302 and after.headers["Location"].startswith("/login/")
    excursion.refresh_from_db()
    assert excursion.state == "open" and not excursion.signatures.exists()
    # ... and logging in again is refused, as after too many failed logins, from any address.
    again = requests.Session()
    again.get(f"{base}/login/")
    form = {"username": "qa", "password": PASSWORD, "csrfmiddlewaretoken": again.cookies["csrftoken"]}
    assert again.post(f"{base}/login/", data=form, allow_redirects=False).status_code == 429

    refusals = AuditRecord.objects.filter(action="sign_refused", object_id=str(excursion.pk))
    assert refusals.count() == settings.AXES_FAILURE_LIMIT
    assert {(r.username, r.model) for r in refusals} == {("qa", "monitoring.excursion")}
    lockout = AuditRecord.objects.get(action="locked_out")
    assert (lockout.username, lockout.model, lockout.object_id) == ("qa", "auth.user", str(signer.pk))
    assert "guess" not in str(list(AuditRecord.objects.values_list("changes", "reason")))
    (notice,) = smtp_inbox.messages
    assert smtp_inbox.envelopes[0].rcpt_tos == ["boss@example.com"]
    assert notice["Subject"] == f"qa is locked out after {settings.AXES_FAILURE_LIMIT} refused signatures"
    assert "/admin/axes/accessattempt/" in notice.get_body(("plain",)).get_content()


# -- A vendor alert's acknowledgement cannot be forged; every change is audited ------------------------


def test_nobody_can_forge_a_vendor_alert_acknowledgement_and_every_change_is_audited(live_server):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    qa = make_user("qa")
    account = make_account()
    alert = VendorAlert.objects.create(
        account=account, vendor_alert_id="a1", alert_type="High temperature", started_at=FIXED_NOW
    )
    base = live_server.url

    # The admin shows the alert, with nothing to type into, and refuses a forged change.
    admin = http_session(base, "root")
    page = admin.get(f"{base}/admin/monitoring/vendoralert/{alert.pk}/change/", timeout=30)
    assert page.status_code == 200 and "High temperature" in page.text
    assert 'name="acknowledgement_comment"' not in page.text and 'name="acknowledged_by"' not in page.text
    forged = {
        "acknowledged_by": qa.pk,
        "acknowledged_at_0": "2026-11-20",
        "acknowledged_at_1": "12:00:00",
        "acknowledgement_comment": "Checked (not really)",
        "csrfmiddlewaretoken": admin.cookies["csrftoken"],
    }
    answer = admin.post(
        f"{base}/admin/monitoring/vendoralert/{alert.pk}/change/", data=forged, headers={"Referer": base}
    )
    assert answer.status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None and alert.acknowledged_by is None

    # The acknowledge action (the Alerts page) is the one way, and it is audited with who and why.
    session = http_session(base, "qa")
    done = session.post(
        f"{base}/alerts/vendor/{alert.pk}/acknowledge/",
        data={"comment": "Called the site: door closed"},
        headers=csrf_headers(session, base),
        allow_redirects=False,
    )
    assert done.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == qa and alert.acknowledgement_comment == "Called the site: door closed"
    # The vendor reports the end later (the sync): audited too, by "system".
    alert.ended_at = FIXED_NOW + timedelta(minutes=20)
    alert.save(update_fields=["ended_at"])
    trail = AuditRecord.objects.filter(model="monitoring.vendoralert", object_id=str(alert.pk)).order_by("id")
    assert [(r.action, r.username) for r in trail] == [
        ("create", "system"),
        ("update", "qa"),
        ("acknowledge", "qa"),
        ("update", "system"),
    ]
    assert trail[1].reason == "Called the site: door closed"
    assert set(trail[1].changes) == {"acknowledged_at", "acknowledged_by", "acknowledgement_comment"}

    # Nor can anything else rewrite it, in Python or in SQL: PostgreSQL refuses.
    if connection.vendor == "postgresql":
        for change in (
            lambda: VendorAlert.objects.filter(pk=alert.pk).update(acknowledgement_comment="rewritten"),
            lambda: VendorAlert.objects.filter(pk=alert.pk).update(
                acknowledged_by=None, acknowledged_at=None
            ),
        ):
            with pytest.raises(DatabaseError, match="acknowledge action sets it, once"), transaction.atomic():
                change()
        other = VendorAlert.objects.create(
            account=account, vendor_alert_id="a2", alert_type="Door", started_at=FIXED_NOW
        )
        with pytest.raises(DatabaseError, match="acknowledge action sets it, once"), transaction.atomic():
            VendorAlert.objects.filter(pk=other.pk).update(acknowledged_by=qa, acknowledged_at=FIXED_NOW)
    alert.refresh_from_db()
    assert alert.acknowledgement_comment == "Called the site: door closed"
