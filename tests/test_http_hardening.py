"""What an attack on the running product found (issue 16), each checked over real HTTP: pages kept out
of caches, the login throttle by user name and by address, long user names, throttled e-signatures,
rate-limited error emails, bad admin filters."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth.models import User

from tests.factories import PASSWORD, http_session, make_account, make_user
from vendors.models import VendorAccount

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_pages_for_a_logged_in_user_are_never_stored_by_a_cache(live_server):
    make_user("qa")
    device = make_account().devices.create(vendor_id="d1", name="Fridge 1")
    base = live_server.url
    anonymous = requests.get(f"{base}/static/css/app.css", timeout=30)
    assert "no-store" not in anonymous.headers.get("Cache-Control", "")
    session = http_session(base)
    for path in ["/", "/alerts/", "/audit/", f"/devices/{device.pk}/", f"/devices/{device.pk}/readings.csv"]:
        answer = session.get(base + path, timeout=30)
        assert answer.status_code == 200, path
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
