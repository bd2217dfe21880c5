"""Vendor accounts: credentials encrypted at rest, rotatable, write-only in the admin; the accounts CLI."""

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from tests.factories import make_account
from tests.test_settings import ROOT
from vendors.models import VendorAccount

SECRET = "canary-9f1c2e7a4b6d8e0f"


def raw_row(account):
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials, session FROM vendors_vendoraccount WHERE id = %s", [account.pk])
        return cursor.fetchone()


@pytest.mark.django_db
def test_it_stores_credentials_encrypted():
    account = make_account(credentials={"api_key": SECRET})
    account.session = {"token": SECRET + "-token"}
    account.save()
    credentials, session = raw_row(account)
    assert SECRET not in credentials and SECRET not in session
    assert VendorAccount.objects.get(pk=account.pk).credentials == {"api_key": SECRET}


@pytest.mark.django_db
def test_it_rotates_to_a_new_key_without_losing_a_secret(settings):
    old_key = settings.CREDENTIALS_KEYS[0]
    account = make_account(credentials={"api_key": SECRET})
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]
    call_command("rotate_credentials", stdout=io.StringIO())
    settings.CREDENTIALS_KEYS = [new_key]  # the old key is gone
    assert VendorAccount.objects.get(pk=account.pk).credentials == {"api_key": SECRET}
    token = raw_row(account)[0]
    assert Fernet(new_key.encode()).decrypt(token.encode())


@pytest.mark.django_db
def test_it_never_shows_credentials_in_the_admin(admin_client):
    account = make_account(credentials={"api_key": SECRET})
    html = admin_client.get(f"/admin/vendors/vendoraccount/{account.pk}/change/").content.decode()
    assert SECRET not in html
    assert "api_key" in html  # which keys are set, not their values
    assert 'name="new_credentials"' in html


@pytest.mark.django_db
def test_it_replaces_credentials_from_the_admin_and_keeps_them_when_left_empty(admin_client):
    account = make_account(credentials={"api_key": SECRET})
    form = {
        "vendor": "thermotrack",
        "name": account.name,
        "base_url": "",
        "timezone": "Europe/Paris",
        "response_format": "xml",
        "enabled": "on",
        "sync_interval": "00:05:00",
        "new_credentials": "",
    }
    response = admin_client.post(f"/admin/vendors/vendoraccount/{account.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert account.credentials == {"api_key": SECRET} and account.response_format == "xml"
    form["new_credentials"] = "api_key=new-key-1234567"
    admin_client.post(f"/admin/vendors/vendoraccount/{account.pk}/change/", form)
    account.refresh_from_db()
    assert account.credentials == {"api_key": "new-key-1234567"}


@pytest.mark.django_db
def test_it_refuses_unknown_credential_keys_in_the_admin(admin_client):
    form = {
        "vendor": "tandd",
        "name": "T&D",
        "timezone": "UTC",
        "enabled": "on",
        "sync_interval": "00:05:00",
        "new_credentials": "api_key=abc\npassword=x",
    }
    response = admin_client.post("/admin/vendors/vendoraccount/add/", form)
    assert response.status_code == 200
    assert "Unknown key" in response.content.decode()
    assert not VendorAccount.objects.exists()


@pytest.mark.django_db
def test_it_adds_lists_and_removes_accounts_from_the_command_line():
    out = io.StringIO()
    call_command(
        "accounts",
        "add",
        "--vendor",
        "tandd",
        "--name",
        "Lab",
        "--timezone",
        "Asia/Tokyo",
        "--credential",
        f"api_key={SECRET}",
        "--credential",
        "login_id=tbzz9999",
        "--credential",
        "login_pass=pw123456",
        stdout=out,
    )
    account = VendorAccount.objects.get(name="Lab")
    assert account.credentials == {"api_key": SECRET, "login_id": "tbzz9999", "login_pass": "pw123456"}
    out = io.StringIO()
    call_command("accounts", "list", stdout=out)
    listing = out.getvalue()
    assert "Lab" in listing and "tandd" in listing and "never synced" in listing
    assert SECRET not in listing and "pw123456" not in listing
    call_command("accounts", "remove", "Lab", stdout=io.StringIO())
    assert VendorAccount.objects.get().health == "retired"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vendor", "trackunit", "--name", "T"], "missing credential(s) for trackunit: token"),
        (
            ["--vendor", "trackunit", "--name", "T", "--credential", "apikey=1"],
            "unknown credential key 'apikey'",
        ),
        (["--vendor", "trackunit", "--name", "T", "--credential", "token"], "expects key=value"),
        (
            [
                "--vendor",
                "thingsee",
                "--name",
                "T",
                "--credential",
                "client_id=a",
                "--credential",
                "client_secret=b",
            ],
            "no default base URL",
        ),
        (
            [
                "--vendor",
                "trackunit",
                "--name",
                "T",
                "--timezone",
                "Nowhere/Town",
                "--credential",
                "token=abc",
            ],
            "is not a time zone",
        ),
        (["--vendor", "trackunit", "--name", "T", "--format", "xml", "--credential", "token=abc"], "offers"),
    ],
)
def test_it_explains_what_is_wrong_with_an_account_on_the_command_line(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("accounts", "add", *args)
    assert not VendorAccount.objects.exists()


@pytest.mark.django_db
def test_it_refuses_private_base_urls_unless_allowed(settings):
    from django.core.exceptions import ValidationError

    settings.VENDOR_ALLOW_PRIVATE_URLS = False
    account = VendorAccount(
        vendor="trackunit", name="x", base_url="http://127.0.0.1:8765/trackunit", credentials={"token": "abc"}
    )
    with pytest.raises(ValidationError, match="private or loopback"):
        account.full_clean()
    account.base_url = "http://10.1.2.3/x"
    with pytest.raises(ValidationError, match="private or loopback"):
        account.full_clean()
    settings.VENDOR_ALLOW_PRIVATE_URLS = True
    account.base_url = "http://127.0.0.1:8765/trackunit"
    account.full_clean()


# -- Secrets kept out of the process list (issue 16) --------------------------------------------------


def manage_environment() -> dict:
    """The environment of a ``manage.py`` child that works on this test's database."""
    from django.conf import settings

    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "SECRET_KEY": settings.SECRET_KEY,
        "CREDENTIALS_KEYS": ",".join(settings.CREDENTIALS_KEYS),
    }


needs_postgresql = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="the child needs the test database"
)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_credentials_from_standard_input_never_reach_the_process_list():
    command = [sys.executable, "manage.py", "accounts", "add", "--vendor", "tandd", "--name", "Lab"]
    child = subprocess.Popen(
        [*command, "--credentials-stdin"],
        cwd=ROOT,
        env=manage_environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cmdline = ""
    deadline = time.monotonic() + 10
    while not cmdline and time.monotonic() < deadline:  # empty for a moment while the child starts
        cmdline = Path(f"/proc/{child.pid}/cmdline").read_bytes().decode()  # what `ps` shows everyone
    out, err = child.communicate(
        f"api_key={SECRET}\nlogin_id=tbzz9999\n\nlogin_pass=pw-{SECRET}\n", timeout=120
    )
    assert child.returncode == 0, err
    assert "Added tandd account 'Lab'" in out and "warning" not in err
    assert SECRET not in cmdline and "--credentials-stdin" in cmdline
    account = VendorAccount.objects.get(name="Lab")
    assert account.credentials == {"api_key": SECRET, "login_id": "tbzz9999", "login_pass": f"pw-{SECRET}"}


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_missing_credentials_are_asked_for_on_the_terminal_without_echo():
    pid, terminal = os.forkpty()  # the child gets a terminal of its own, as when typed by hand
    if pid == 0:  # pragma: no cover - the child becomes manage.py at once
        os.chdir(ROOT)
        os.execve(
            sys.executable,
            [sys.executable, "manage.py", "accounts", "add", "--vendor", "trackunit", "--name", "Fleet"],
            manage_environment(),
        )
    shown = b""
    try:
        deadline = time.monotonic() + 120
        while b"trackunit token:" not in shown and time.monotonic() < deadline:
            shown += os.read(terminal, 1024)
        os.write(terminal, f"{SECRET}\n".encode())
        while time.monotonic() < deadline:
            try:
                chunk = os.read(terminal, 1024)
            except OSError:  # the child has closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0, shown.decode(errors="replace")
    assert b"Added trackunit account 'Fleet'" in shown
    assert SECRET.encode() not in shown  # not echoed while typed
    assert VendorAccount.objects.get(name="Fleet").credentials == {"token": SECRET}


@pytest.mark.django_db
def test_a_secret_on_the_command_line_still_works_with_a_warning_and_the_environment_works_without(
    monkeypatch,
):
    err = io.StringIO()
    call_command(
        "accounts",
        "add",
        "--vendor",
        "trackunit",
        "--name",
        "Old script",
        "--credential",
        f"token={SECRET}",
        stdout=io.StringIO(),
        stderr=err,
    )
    assert "visible to every user of this machine" in err.getvalue() and SECRET not in err.getvalue()
    assert VendorAccount.objects.get(name="Old script").credentials == {"token": SECRET}

    monkeypatch.setenv("FLEET_TOKEN", SECRET + "-env")
    err = io.StringIO()
    call_command(
        "accounts",
        "add",
        "--vendor",
        "trackunit",
        "--name",
        "New script",
        "--credential-env",
        "token=FLEET_TOKEN",
        stdout=io.StringIO(),
        stderr=err,
    )
    assert err.getvalue() == ""
    assert VendorAccount.objects.get(name="New script").credentials == {"token": SECRET + "-env"}
    with pytest.raises(CommandError, match="'NO_SUCH_VARIABLE' is not set"):
        call_command(
            "accounts",
            "add",
            "--vendor",
            "trackunit",
            "--name",
            "Typo",
            "--credential-env",
            "token=NO_SUCH_VARIABLE",
        )


@pytest.mark.django_db
def test_deleting_an_account_in_the_admin_retires_it_and_its_devices_become_read_only(admin_client):
    from monitoring.models import Device
    from vendors.operations import OperationRefused, installation_status_set

    account = make_account()
    device = Device.objects.create(account=account, vendor_id="d1", name="Fridge 1")
    confirm = admin_client.get(f"/admin/vendors/vendoraccount/{account.pk}/delete/")
    assert confirm.status_code == 200 and "Fridge 1" not in confirm.content.decode()  # nothing goes with it
    done = admin_client.post(f"/admin/vendors/vendoraccount/{account.pk}/delete/", {"post": "yes"})
    assert done.status_code == 302
    account.refresh_from_db()
    assert account.retired_at and not account.enabled and Device.objects.filter(pk=device.pk).exists()
    page = admin_client.get(f"/admin/vendors/vendoraccount/{account.pk}/change/").content.decode()
    assert 'name="_save"' not in page  # read-only
    device_page = admin_client.get(f"/admin/monitoring/device/{device.pk}/change/").content.decode()
    assert 'name="_save"' not in device_page
    with pytest.raises(OperationRefused, match="retired"):
        installation_status_set(device, "retired", user=None)
