"""Every page but login needs a logged-in user; the two roles exist."""

import pytest
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import make_user

PUBLIC = {"login", "admin:login", "favicon"}  # the icon: a redirect to a static file


def walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), f"{namespace}{pattern.name}" if pattern.name else None


def concrete(route: str) -> str:
    """A URL for a route: converters get a plausible value, regex groups a number."""
    import re

    url = re.sub(r"<int:\w+>", "1", route)
    url = re.sub(r"<(?:str|slug|path|uuid):\w+>|<\w+>", "x", url)
    url = re.sub(r"\(\?P<\w+>[^)]*\)", "1", url)
    url = url.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + url.replace("(?:", "").replace(")?", "").replace(")", "")


@pytest.mark.django_db
def test_it_refuses_every_page_to_an_anonymous_visitor(client):
    checked = 0
    for route, name in walk(get_resolver().url_patterns):
        if name in PUBLIC:
            continue
        url = concrete(route)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            if response.status_code in (301, 302):
                location = response["Location"]
                assert "login" in location, f"{method.upper()} {url} redirects to {location}, not to a login"
            else:
                assert response.status_code in (401, 403, 404, 405), (
                    f"{method.upper()} {url}: {response.status_code}"
                )
                assert response.status_code != 200
            checked += 1
    assert checked > 20  # the admin's and ours


@pytest.mark.django_db
def test_it_shows_the_login_page_to_everyone(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


@pytest.mark.django_db
def test_it_creates_the_qa_and_admin_roles():
    qa = set(Group.objects.get(name="QA").permissions.values_list("codename", flat=True))
    admin = set(Group.objects.get(name="Admin").permissions.values_list("codename", flat=True))
    assert "view_device" in qa and "acknowledge_vendoralert" in qa
    assert "change_vendoraccount" not in qa and "change_device" not in qa
    assert {"change_vendoraccount", "add_vendoraccount", "change_device", "view_reading"} <= admin


@pytest.mark.django_db
def test_it_lets_a_qa_user_in_after_logging_in(client):
    make_user("alice")
    response = client.post("/login/", {"username": "alice", "password": "correct horse battery staple 42"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_the_admin_role_can_clear_login_lockouts():
    admin = set(Group.objects.get(name="Admin").permissions.values_list("codename", flat=True))
    assert {"view_accessattempt", "delete_accessattempt"} <= admin
