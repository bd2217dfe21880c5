"""Users see and do only what their group allows: every URL, walked as an anonymous visitor, a QA user and
an Admin, against real rows (so a missing permission check cannot hide behind a 404)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.urls import get_resolver

from monitoring.models import AlarmRule, Channel, DeploymentGroup, Device, Excursion, InstallationEvent
from tests.conftest import FIXED_NOW
from tests.factories import make_account, make_user
from tests.test_auth import PUBLIC, walk
from vendors.models import VendorAccount
from vendors.simulators import simulator_class
from vendors.sync import sync_account
from vendors.tasks import sync_account as sync_account_task


@pytest.fixture
def site(db, world, serve, monkeypatch):
    """Two synced accounts (Thingsee groups and things, TrackGPS vehicles), a local group, a rule and an
    excursion; "Sync now" queues nothing."""
    monkeypatch.setattr(sync_account_task, "delay", lambda *args, **kwargs: None)
    accounts = {}
    for slug in ("thingsee", "trackgps"):
        account = make_account(serve(simulator_class(slug)(world=world)), slug)
        sync_account(account, since=FIXED_NOW - timedelta(hours=3), until=FIXED_NOW)
        accounts[slug] = account
    group = DeploymentGroup.objects.create(name="Cold room B")
    device = Device.objects.filter(account=accounts["thingsee"]).first()
    vehicle = Device.objects.filter(account=accounts["trackgps"]).first()
    channel = Channel.objects.filter(device=device).first()
    rule = AlarmRule.objects.create(name="2-8", group=group, low_limit=2, high_limit=8)
    excursion = Excursion.objects.create(
        channel=channel, rule=rule, started_at=FIXED_NOW - timedelta(hours=1)
    )
    return {
        "account": accounts["thingsee"],
        "device": device,
        "vehicle": vehicle,
        "group": group,
        "rule": rule,
        "excursion": excursion,
    }


# Which row an <int:pk> of our pages stands for, by the first part of the route.
OUR_ROWS = {
    "devices/": "device",
    "map/": "vehicle",
    "groups/": "group",
    "sync/": "account",
    "excursions/": "excursion",
    "rules/": "rule",
    "alerts/": "excursion",
}


def concrete(route: str, site: dict) -> str:
    """A URL for a route, its ids those of real rows."""
    match = re.match(r"admin/(\w+)/(\w+)/", route)
    if match:
        try:
            row = apps.get_model(match[1], match[2]).objects.order_by("pk").first()
        except LookupError:
            row = None
        object_id = str(row.pk) if row else "1"
    else:
        prefix = next((p for p in OUR_ROWS if route.startswith(p)), None)
        object_id = str(site[OUR_ROWS[prefix]].pk) if prefix else "1"
    url = re.sub(r"<(?:int|path|str):(?:pk|object_id|id)>", object_id, route)
    url = re.sub(r"<slug:source>", "excursion", url)
    url = re.sub(r"<int:content_type_id>", "1", url)
    url = re.sub(r"<int:\w+>", object_id, url)
    url = re.sub(r"<(?:str|slug|path|uuid):\w+>|<\w+>", "x", url)
    url = re.sub(r"\(\?P<\w+>[^)]*\)", "auth", url)  # the admin's app_list: a real app label
    url = url.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + url.replace("(?:", "").replace(")?", "").replace(")", "")


def every_url(site: dict) -> list[tuple[str, str | None]]:
    urls = [(concrete(route, site), name) for route, name in walk(get_resolver().url_patterns)]
    assert len(urls) > 40  # the admin's and ours
    return urls


# What an Admin would post to change configuration; a QA user posting the same must change nothing.
def payloads(site: dict) -> dict[str, dict]:
    rule = {
        "name": "Intruder rule",
        "quantity": "temperature",
        "group": site["group"].pk,
        "low_limit": "-80",
        "high_limit": "80",
        "delay_minutes": "0",
        "clear_margin": "0",
        "severity": "alarm",
        "activation_energy": "83.144",
        "enabled": "on",
        "reason": "testing permissions",
    }
    return {
        "rules": rule,
        "rule_edit": rule,
        "group_create": {"name": "Intruders"},
        "group_rename": {"name": "Renamed by QA"},
        "group_delete": {},
        "devices_move": {"devices": [site["vehicle"].pk], "group": site["group"].pk},
        "device_installation": {"status": "uninstalled"},
    }


def configuration() -> dict:
    """Everything only an Admin may change: rules, accounts, groups, installation statuses, roles."""
    return {
        "rules": list(AlarmRule.objects.order_by("pk").values()),
        "accounts": list(
            VendorAccount.objects.order_by("pk").values_list(
                "pk", "name", "base_url", "enabled", "credentials"
            )
        ),
        "groups": list(DeploymentGroup.objects.order_by("pk").values()),
        "devices": list(Device.objects.order_by("pk").values_list("pk", "group_id", "installation_status")),
        "installations": InstallationEvent.objects.count(),
        "roles": sorted(Group.objects.values_list("name", "permissions__codename")),
        "users": sorted(User.objects.values_list("username", "is_staff", "is_superuser")),
    }


def test_an_anonymous_visitor_never_gets_data(site, client):
    names = {site["device"].name, site["vehicle"].name, site["account"].name, site["group"].name}
    for url, name in every_url(site):
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            where = f"{method.upper()} {url} ({name})"
            if name in PUBLIC:
                assert response.status_code in (200, 302, 405), where
                continue
            assert response.status_code != 200, where
            if response.status_code in (301, 302):
                assert "login" in response["Location"], f"{where} redirects to {response['Location']}"
            else:
                assert response.status_code in (400, 401, 403, 404, 405), f"{where}: {response.status_code}"
            body = response.content.decode(errors="replace")
            assert not any(n in body for n in names), f"{where} shows data"


def test_a_qa_user_changes_no_rule_account_group_or_installation(site, client):
    client.force_login(make_user("qa", "QA"))
    posts = payloads(site)
    before = configuration()
    for url, name in every_url(site):
        if name in ("logout", "admin:logout"):
            continue
        get = client.get(url)
        assert get.status_code < 500, f"GET {url} ({name}): {get.status_code}"
        if url.startswith("/admin/") and name != "admin:login":
            assert get.status_code == 302 and "/admin/login/" in get["Location"], f"GET {url} ({name})"
        post = client.post(url, posts.get(name, {}))
        assert post.status_code < 500, f"POST {url} ({name}): {post.status_code}"
        if name in posts:
            assert post.status_code in (302, 403), f"POST {url} ({name}): {post.status_code}"
            if post.status_code == 302:
                assert "login" in post["Location"], f"POST {url} ({name}) -> {post['Location']}"
        assert configuration() == before, f"POST {url} ({name}) as QA changed the configuration"


def test_the_payloads_the_qa_user_was_refused_work_for_an_admin(site, client):
    """Else the QA test above proves nothing: these posts do change the configuration."""
    admin = make_user("boss", "Admin")
    client.force_login(admin)
    posts = payloads(site)
    urls = {name: url for url, name in every_url(site)}
    for name, data in posts.items():
        before = configuration()
        with transaction.atomic():
            response = client.post(urls[name], data)
            assert response.status_code < 400, f"POST {urls[name]} ({name}): {response.status_code}"
            assert configuration() != before, f"POST {urls[name]} ({name}) as Admin changed nothing"
            transaction.set_rollback(True)


def test_an_admin_loads_every_page_and_the_admin(site, client):
    admin = make_user("boss", "Admin")
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    client.force_login(admin)
    for url, name in every_url(site):
        if name in ("logout", "admin:logout") or url.endswith(("/delete/", "/history/")):
            continue  # delete and history pages: slow, and the change pages cover their permissions
        response = client.get(url)
        assert response.status_code < 500, f"GET {url} ({name}): {response.status_code}"
    account = site["account"]
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/vendors/vendoraccount/").status_code == 200
    assert client.get(f"/admin/vendors/vendoraccount/{account.pk}/change/").status_code == 200
