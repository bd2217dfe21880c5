"""Security: no secret leaks (database dumps, logs, Celery messages, pages, error emails), keys rotate,
logins are throttled, every response carries a CSP, production cookies are secure, vendor URLs are public.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.urls import include, path

from coldchain import embedded_database
from coldchain.celery import app
from monitoring.models import AlarmRule, Channel, DeploymentGroup, Device, Excursion
from tests.conftest import FIXED_NOW
from tests.factories import PASSWORD, make_account, make_user
from tests.test_roles import every_url
from tests.test_settings import ROOT
from vendors.clients.errors import VendorError
from vendors.models import VendorAccount, validate_base_url
from vendors.simulators import SLUGS, simulator_class
from vendors.sync import sync_account
from vendors.tasks import sync_account as sync_account_task
from vendors.tasks import sync_due_accounts

SINCE = FIXED_NOW - timedelta(hours=3)


def canary(label: str) -> str:
    return f"CANARY-{label}-{secrets.token_hex(8)}"


def every_secret() -> set[str]:
    """Every credential and token the accounts hold now (decrypted), all of them canaries."""
    values = set()
    for credentials, session in VendorAccount.objects.values_list("credentials", "session"):
        values.update(v for v in credentials.values() if isinstance(v, str))
        values.update(v for v in session.values() if isinstance(v, str) and len(v) >= 6)
    return values


def assert_no_secret(text: str, secrets_: set[str], where: str) -> None:
    leaked = sorted(s for s in secrets_ if s in text)
    assert not leaked, f"{where} shows {leaked}"


@pytest.fixture
def accounts(world, serve):
    """One synced account per vendor. The simulators take only their own credentials, so those are the
    canaries, plus a canary password (TrackGPS lets one be set) and canary tokens that the vendors refuse
    (so the clients log in again)."""
    simulators = {slug: simulator_class(slug)(world=world) for slug in SLUGS}
    simulators["trackgps"].change_password(canary("trackgps-password"))
    server = serve(*simulators.values())
    made = {slug: make_account(server, slug) for slug in SLUGS}
    made["thingsee"].session = {"token": canary("thingsee-token"), "expires_at": 4_000_000_000}
    made["trackgps"].session = {"user_api_hash": canary("trackgps-hash")}
    for account in made.values():
        account.save(update_fields=["session"])
    planted = every_secret()
    return simulators, made, planted


def sync_everything(simulators, made) -> None:
    """A good run, then runs that fail: refused credentials, then server errors."""
    for account in made.values():
        result = sync_account(account, since=SINCE, until=FIXED_NOW)
        assert result.ok, result.errors
    for index, (slug, simulator) in enumerate(simulators.items()):
        if index % 2:
            simulator.faults.update(credentials="revoked")
        else:
            simulator.faults.update(error_rate=1.0)
        try:
            sync_account(made[slug], since=SINCE, until=FIXED_NOW)
        except VendorError:
            pass
        simulator.faults.update(credentials="valid", error_rate=0.0)


# -- (a) no secret anywhere -------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_secret_reaches_the_logs_the_database_dump_or_celery(accounts, caplog):
    simulators, made, planted = accounts
    caplog.set_level(logging.DEBUG)
    sync_everything(simulators, made)
    secrets_ = planted | every_secret()
    assert len(secrets_) >= len(planted) + 2  # the tokens the vendors handed out count too

    assert caplog.records and VendorAccount.objects.filter(consecutive_failures__gt=0).count() == len(SLUGS)
    for record in caplog.records:
        text = record.getMessage() + (
            logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        )
        assert_no_secret(text, secrets_, f"the log record {record.name}:{record.lineno}")
    for account in VendorAccount.objects.all():
        assert_no_secret(account.last_error, secrets_, f"{account.name}'s last error")

    dump = io.StringIO()
    call_command("dumpdata", "--exclude", "contenttypes", "--exclude", "auth.permission", stdout=dump)
    assert_no_secret(dump.getvalue(), secrets_, "dumpdata")
    rows = [row for row in json.loads(dump.getvalue()) if row["model"] == "vendors.vendoraccount"]
    assert len(rows) == len(SLUGS) and all(row["fields"]["credentials"].startswith("gAAAA") for row in rows)

    account = made["thingsee"]
    body, kwargs = celery_message(sync_account_task.s(account.pk))
    assert_no_secret(body, secrets_, "the message of sync_account")
    assert json.loads(body)[0] == [account.pk] and kwargs == {}
    result = sync_account_task.apply(args=[account.pk]).get()
    assert result["status"] in ("ok", "partial")
    assert_no_secret(json.dumps(result), secrets_, "the result of sync_account")
    assert_no_secret(json.dumps(sync_due_accounts.apply().get()), secrets_, "the result of sync_due_accounts")


def celery_message(signature) -> tuple[str, dict]:
    """The body of the message a signature would send, serialized as the broker would carry it."""
    from kombu.serialization import dumps

    message = app.amqp.as_task_v2(str(uuid.uuid4()), signature.task, signature.args, signature.kwargs)
    _content_type, _encoding, body = dumps(message.body, serializer="json")
    return body if isinstance(body, str) else body.decode(), signature.kwargs


@pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"),
    reason="needs CELERY_BROKER_URL=redis://... (set by .ci/run)",
)
@pytest.mark.django_db
def test_the_queued_message_on_redis_holds_no_secret(monkeypatch):
    import redis

    secret = canary("redis")
    account = make_account(credentials={"api_key": secret})
    queue = f"security-canary-{uuid.uuid4().hex}"  # a queue no worker reads
    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    try:
        sync_account_task.apply_async(args=[account.pk], queue=queue)
        deadline = time.monotonic() + 10
        while not client.llen(queue) and time.monotonic() < deadline:
            time.sleep(0.05)
        raw = b"".join(client.lrange(queue, 0, -1)).decode()
    finally:
        client.delete(queue)
    assert raw and str(account.pk) in raw
    assert secret not in raw and "api_key" not in raw


@pytest.mark.django_db(transaction=True)
def test_the_postgresql_dump_holds_only_ciphertext():
    secret = canary("pg-dump")
    account = make_account(credentials={"api_key": secret})
    account.session = {"token": secret + "-token"}
    account.save()
    db = connection.settings_dict
    # The wheel's pg_dump (PostgreSQL 18) dumps the embedded server and any older one (CI's 15).
    pg_dump = str(embedded_database.program("pg_dump"))
    command = [pg_dump, "--data-only", "--table=vendors_vendoraccount", "--dbname", db["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            command += [option, str(db[key])]
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    dump = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    assert account.name in dump and "gAAAA" in dump
    assert secret not in dump


@pytest.mark.django_db
def test_no_page_shows_a_secret_to_an_admin(accounts, client, monkeypatch):
    simulators, made, planted = accounts
    monkeypatch.setattr(sync_account_task, "delay", lambda *args, **kwargs: None)
    for account in made.values():
        sync_account(account, since=SINCE, until=FIXED_NOW)
    secrets_ = planted | every_secret()
    group = DeploymentGroup.objects.create(name="Cold room B")
    device = Device.objects.filter(account=made["thingsee"]).first()
    rule = AlarmRule.objects.create(name="2-8", group=group, low_limit=2, high_limit=8)
    channel = Channel.objects.filter(device=device).first()
    excursion = Excursion.objects.create(
        channel=channel, rule=rule, started_at=FIXED_NOW - timedelta(hours=1)
    )
    site = {
        "account": made["trackgps"],
        "device": device,
        "vehicle": Device.objects.filter(account=made["trackgps"]).first(),
        "group": group,
        "rule": rule,
        "excursion": excursion,
    }
    admin = make_user("boss", "Admin")
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    client.force_login(admin)
    pages = [
        url
        for url, name in every_url(site)
        if name not in ("logout", "admin:logout")
        and (not url.startswith("/admin/") or url.startswith(("/admin/vendors/", "/admin/monitoring/")))
        and not url.endswith(("/delete/", "/history/"))  # slow, and they show names only
    ]
    pages += ["/admin/", "/sync/", "/admin/vendors/vendoraccount/?q=account"]
    pages += [f"/admin/vendors/vendoraccount/{a.pk}/change/" for a in made.values()]
    shown = 0
    for url in pages:
        response = client.get(url)
        if response.status_code == 200 and not response.streaming:
            assert_no_secret(response.content.decode(errors="replace"), secrets_, f"GET {url}")
            shown += 1
    assert shown > 20


# A view that fails with secrets in its local variables, its exception and its POST data.
def failing_view(request):
    account = VendorAccount.objects.get(name=request.GET["account"])
    credentials = account.credentials  # noqa: F841 - the report must hide it
    value = next(iter(account.credentials.values()))
    url = f"https://vendor.example/api?key={value}"  # noqa: F841
    note = value  # noqa: F841 - an innocent name: only the known-secret pass can hide it
    nested = {"inner": [{"api_key": value}]}  # noqa: F841
    raise RuntimeError(f"the vendor refused {value}")


urlpatterns = [path("boom/", failing_view), path("", include("coldchain.urls"))]


@pytest.mark.django_db
@pytest.mark.urls("tests.test_security")
def test_an_error_email_and_the_debug_page_hide_every_secret(client, settings):
    secret = canary("error-email")
    account = make_account(name="Mailed", credentials={"api_key": secret})
    account.session = {"token": canary("error-token")}
    account.save(update_fields=["session"])
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client.force_login(make_user())
    client.raise_request_exception = False
    response = client.post("/boom/?account=Mailed", {"new_credentials": f"api_key={secret}", "note": secret})
    assert response.status_code == 500
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    report = email.subject + email.body + "".join(content for content, _type in email.alternatives)
    assert "RuntimeError" in report and "failing_view" in report  # a useful report still
    assert_no_secret(report, {secret, account.session["token"]}, "the error email")
    assert repr(account) == "<VendorAccount: Mailed>" and str(account) == "Mailed"

    settings.DEBUG = True  # the demo's debug page hides them too
    page = client.post("/boom/?account=Mailed", {"new_credentials": f"api_key={secret}"})
    assert page.status_code == 500 and "failing_view" in page.content.decode()
    assert_no_secret(page.content.decode(), {secret, account.session["token"]}, "the debug page")


# -- (c) key rotation -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_after_a_key_rotation_without_the_old_key_a_sync_still_works(world, serve, settings):
    simulator = simulator_class("thingsee")(world=world)
    account = make_account(serve(simulator), "thingsee")
    assert sync_account(account, since=SINCE, until=FIXED_NOW).ok  # a token is now in the session
    old_key, new_key = settings.CREDENTIALS_KEYS[0], Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]
    call_command("rotate_credentials", stdout=io.StringIO())
    settings.CREDENTIALS_KEYS = [new_key]
    account = VendorAccount.objects.get(pk=account.pk)
    assert account.credentials == simulator.credentials and account.session["token"]
    assert sync_account(account, since=FIXED_NOW - timedelta(hours=1), until=FIXED_NOW).ok
    settings.CREDENTIALS_KEYS = [old_key]  # the old key alone reads nothing any more
    with pytest.raises(Exception, match="CREDENTIALS_KEYS"):
        VendorAccount.objects.get(pk=account.pk)


# -- Login throttling -------------------------------------------------------------------------------


def log_in(client, username, password, **headers):
    return client.post("/login/", {"username": username, "password": password}, **headers)


@pytest.mark.django_db
def test_it_locks_a_user_name_out_after_too_many_failed_logins(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
    make_user("alice")
    make_user("bob")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "alice", "wrong").status_code == 200
    locked = log_in(client, "alice", "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode() and int(locked["Retry-After"]) > 0
    assert log_in(client, "alice", PASSWORD).status_code == 429  # even the right password now
    # A client cannot escape by claiming another address: there is no trusted proxy.
    assert log_in(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    # Nor from a real second address: the user name is locked, wherever it comes from (issue 16).
    assert log_in(client, "alice", PASSWORD, REMOTE_ADDR="198.51.100.20").status_code == 429
    assert log_in(client, "bob", PASSWORD, REMOTE_ADDR="198.51.100.20").status_code == 302


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_lockout_follows_the_forwarded_address(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("alice")
    make_user("bob")
    attacker = {"HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.7"}  # the first part is the client's lie
    for name in ["mallory", "trent", "oscar", "peggy", "victor", "walter"][: settings.AXES_FAILURE_LIMIT]:
        log_in(client, name, "wrong", **attacker)
    # The forwarded address (203.0.113.7, the proxy's view) is locked, whatever the user name...
    assert log_in(client, "bob", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.7").status_code == 429
    # ... and not the address the client claimed, nor anybody behind another one.
    assert log_in(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 302


# -- Content Security Policy ------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_response_carries_the_content_security_policy(client, settings):
    anonymous = [client.get("/login/"), client.get("/"), client.get("/no-such-page/"), client.get("/admin/")]
    anonymous += [client.get("/static/css/app.css"), client.put("/login/")]
    client.force_login(make_user())
    logged_in = [
        client.get("/"),
        client.get("/no-such-page/"),
        client.get("/alerts/", HTTP_HX_REQUEST="true"),
    ]
    client.force_login(User.objects.create_superuser("root", "root@example.com", PASSWORD))
    logged_in += [client.get("/admin/"), client.get("/admin/vendors/vendoraccount/add/")]
    for response in anonymous + logged_in:
        policy = response.get("Content-Security-Policy", "")
        assert "default-src 'self'" in policy, (response.request["PATH_INFO"], response.status_code)
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"  # no nonce used on this page, and never 'unsafe-inline'
    assert directives["frame-ancestors"] == "'none'" and directives["form-action"] == "'self'"
    assert directives["connect-src"] == "'self' https://tile.openstreetmap.org"  # the map fetches its tiles
    assert directives["worker-src"] == "'self' blob:"  # the map library's worker
    assert "https://tile.openstreetmap.org" in directives["img-src"]
    assert "'unsafe-eval'" not in policy


# -- Production settings ----------------------------------------------------------------------------


def test_production_settings_make_cookies_secure_and_turn_on_hsts():
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    environment.update(
        DJANGO_DEBUG="0",
        SECRET_KEY=Fernet.generate_key().decode() * 2,
        CREDENTIALS_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="coldchain.example.com",
        DJANGO_SETTINGS_MODULE="coldchain.settings",
    )
    names = [
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "CSRF_COOKIE_HTTPONLY",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_SSL_REDIRECT",
        "VENDOR_ALLOW_PRIVATE_URLS",
        "AXES_ENABLED",
        "TRUSTED_PROXY_COUNT",
    ]
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SESSION_COOKIE_HTTPONLY"] and values["CSRF_COOKIE_HTTPONLY"]
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["SECURE_SSL_REDIRECT"]
    assert values["VENDOR_ALLOW_PRIVATE_URLS"] is False
    assert values["AXES_ENABLED"] and values["TRUSTED_PROXY_COUNT"] == 0


# -- (d) vendor base URLs ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:8765/trackunit",
        "http://169.254.169.254/latest",  # the cloud metadata address
        "http://localhost:8765/x",
        "http://127.1/x",
        "http://2130706433/x",  # 127.0.0.1 written as a number
        "http://0.0.0.0/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://192.168.1.10/x",
        "http://[fd00::1]/x",
    ],
)
def test_it_refuses_private_loopback_and_link_local_base_urls(url, settings):
    settings.VENDOR_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError, match="private or loopback"):
        validate_base_url(url)


@pytest.mark.django_db
def test_the_admin_shows_why_a_base_url_is_refused(admin_client, settings):
    settings.VENDOR_ALLOW_PRIVATE_URLS = False
    form = {
        "vendor": "trackunit",
        "name": "Sneaky",
        "base_url": "http://localhost:8765/trackunit",
        "timezone": "UTC",
        "enabled": "on",
        "sync_interval": "00:05:00",
        "new_credentials": "token=abc123456789",
    }
    response = admin_client.post("/admin/vendors/vendoraccount/add/", form)
    assert response.status_code == 200
    assert "private or loopback" in response.content.decode()
    assert not VendorAccount.objects.exists()
    settings.VENDOR_ALLOW_PRIVATE_URLS = True  # the demo and the tests allow them
    assert admin_client.post("/admin/vendors/vendoraccount/add/", form).status_code == 302
