"""Every page's query parameters refuse bad values with a clear 4xx, never a 500."""

from __future__ import annotations

import pytest
from django.urls import get_resolver

from tests.factories import make_user
from tests.test_auth import walk
from tests.test_roles import concrete, site  # noqa: F401 (the fixture: real rows for every id)

PARAMETERS = [
    "range",
    "start",
    "end",
    "zoom_from",
    "zoom_to",
    "since",
    "until",
    "vendor",
    "group",
    "status",
    "q",
    "retired",
    "state",
    "severity",
    "device",
    "vehicle",
    "page",
    "format",
    "source",
    "account",
]
BAD_VALUES = [
    "x",
    "-1",
    "99999999999999999999",
    "2026-13-40",
    "9999-12-31",
    "0001-01-01",
    "2026-11-20T25:61:00",
    "<script>alert(1)</script>",
    "\u0000",
    "🧊" * 50,
]


# Every page of ours (the admin has its own checks); one test per page, so each has its own time limit.
PAGES = [
    route
    for route, name in walk(get_resolver().url_patterns)
    if not route.startswith("admin/") and name not in ("logout", "login")
]


def test_every_page_is_checked():
    assert len(PAGES) > 20 and "alerts/" in PAGES


@pytest.mark.django_db
@pytest.mark.parametrize("route", PAGES)
def test_no_query_value_makes_any_page_fail(client, site, route):  # noqa: F811
    admin = make_user("ada", role="Admin")
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    url = concrete(route, site)
    for parameter in PARAMETERS:
        for value in BAD_VALUES:
            response = client.get(url, {parameter: value})
            assert response.status_code < 500, f"GET {url}?{parameter}={value!r}: {response.status_code}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"range": "custom", "start": "2026-11-20", "end": "2026-11-01"}, "before"),
        ({"range": "custom", "start": "2020-01-01", "end": "2026-11-20"}, "years"),
        ({"range": "custom", "start": "2026-11-31", "end": "2026-12-01"}, "date"),
    ],
)
def test_a_bad_device_range_is_explained(client, site, query, message):  # noqa: F811
    client.force_login(make_user())
    response = client.get(f"/devices/{site['device'].pk}/", query)
    assert 400 <= response.status_code < 500
    assert message in response.content.decode().lower()


@pytest.mark.django_db
def test_a_nul_character_in_a_value_is_a_400(client):
    client.force_login(make_user())
    assert client.get("/alerts/", {"state": "open\x00"}).status_code == 400
    assert client.post("/login/", {"username": "a\x00", "password": "x"}).status_code == 400
