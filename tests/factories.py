"""Small helpers to make users and accounts in tests."""

from __future__ import annotations

import requests
from django.contrib.auth.models import Group, User

from vendors.models import VendorAccount

PASSWORD = "correct horse battery staple 42"


def make_user(username: str = "qa", role: str = "QA") -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com")
    user.groups.add(Group.objects.get(name=role))
    return user


def make_account(server=None, slug: str = "thermotrack", name: str | None = None, **fields) -> VendorAccount:
    """An account pointing at a running simulator (``server`` from the ``serve`` fixture)."""
    if server is not None:
        description = server.describe(slug)
        fields.setdefault("base_url", description["base_url"])
        fields.setdefault("timezone", description["timezone"])
        fields.setdefault("credentials", description["credentials"])
    fields.setdefault("credentials", {"api_key": "k-123456789012"})
    return VendorAccount.objects.create(vendor=slug, name=name or f"{slug} account", **fields)


def http_session(base_url: str, username: str = "qa", password: str = PASSWORD) -> requests.Session:
    """A ``requests`` session logged in through the login form over real HTTP (``live_server.url``)."""
    session = requests.Session()
    session.get(f"{base_url}/login/", timeout=30)
    answer = session.post(
        f"{base_url}/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base_url}/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, f"login as {username}: {answer.status_code}"
    return session


def csrf_headers(session: requests.Session, base_url: str) -> dict:
    """What a form post needs besides its fields: the CSRF token (as htmx sends it) and a referer."""
    return {"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base_url}/"}
