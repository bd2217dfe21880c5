"""The audit trail of many-to-many links: who a level reaches, what a policy covers, a user's roles and
permissions. PostgreSQL writes one record per link added or removed, whichever way it is changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.utils import timezone

from alarms.models import EscalationLevel, EscalationPolicy, NotificationChannel
from monitoring.audit import audit_context
from monitoring.models import AlarmProfile, AuditRecord, DeploymentGroup, Device
from tests.factories import make_account, make_user


@pytest.fixture
def records(db):
    """The audit records written after this fixture (the migrations' own are in the trail too)."""
    last = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return lambda: AuditRecord.objects.filter(id__gt=last).order_by("id")


@pytest.fixture
def level(db):
    policy = EscalationPolicy.objects.create(name="Vaccines")
    return EscalationLevel.objects.create(policy=policy, position=2, delay_minutes=15)


def _links(records) -> list[tuple]:
    return [
        (r.username, r.model, r.object_repr, r.changes, r.reason)
        for r in records
        if r.action == "update"
        and any(str(v[1]).startswith(("added", "removed")) for v in r.changes.values())
    ]


def test_adding_setting_and_clearing_a_levels_recipients_is_audited_one_record_per_link(level, records):
    ana, bo = make_user("ana"), make_user("bo")
    boss = make_user("boss", role="Admin")
    qa = Group.objects.get(name="QA")
    sms = NotificationChannel.objects.create(name="SMS to QA room")
    before = timezone.now()
    with audit_context(user=boss, reason="Night cover"):
        level.users.add(ana)
        level.users.set([bo])  # ana removed, bo added
        level.groups.add(qa)
        level.channels.add(sms)
        level.users.clear()
    trail = records().filter(model__startswith="alarms.")
    assert _links(trail) == [
        (
            "boss",
            "alarms.escalationlevel",
            "Vaccines: level 2",
            {"users": [None, "added: ana"]},
            "Night cover",
        ),
        (
            "boss",
            "alarms.escalationlevel",
            "Vaccines: level 2",
            {"users": [None, "removed: ana"]},
            "Night cover",
        ),
        (
            "boss",
            "alarms.escalationlevel",
            "Vaccines: level 2",
            {"users": [None, "added: bo"]},
            "Night cover",
        ),
        (
            "boss",
            "alarms.escalationlevel",
            "Vaccines: level 2",
            {"groups": [None, "added: QA"]},
            "Night cover",
        ),
        (
            "boss",
            "alarms.escalationlevel",
            "Vaccines: level 2",
            {"channels": [None, "added: SMS to QA room"]},
            "Night cover",
        ),
        (
            "boss",
            "alarms.escalationlevel",
            "Vaccines: level 2",
            {"users": [None, "removed: bo"]},
            "Night cover",
        ),
    ]
    level_records = trail.filter(model="alarms.escalationlevel")
    assert {r.object_id for r in level_records} == {str(level.pk)}
    assert all(before <= r.at <= timezone.now() + timedelta(seconds=1) for r in level_records)


def test_what_a_policy_covers_is_audited_even_without_a_user(level, records):
    device = Device.objects.create(account=make_account(), vendor_id="d1", name="Fridge 3")
    ward = DeploymentGroup.objects.create(name="Ward A")
    profile = AlarmProfile.objects.create(name="Insulin 2–8 °C")
    policy = level.policy
    policy.devices.add(device)
    policy.groups.add(ward)
    policy.profiles.add(profile)
    policy.devices.remove(device)
    with connection.cursor() as cursor:  # raw SQL, as a console session would
        cursor.execute(
            "DELETE FROM alarms_escalationpolicy_groups WHERE escalationpolicy_id = %s", [policy.pk]
        )
    assert _links(records()) == [
        ("system", "alarms.escalationpolicy", "Vaccines", {"devices": [None, "added: Fridge 3"]}, ""),
        ("system", "alarms.escalationpolicy", "Vaccines", {"groups": [None, "added: Ward A"]}, ""),
        ("system", "alarms.escalationpolicy", "Vaccines", {"profiles": [None, "added: Insulin 2–8 °C"]}, ""),
        ("system", "alarms.escalationpolicy", "Vaccines", {"devices": [None, "removed: Fridge 3"]}, ""),
        ("system", "alarms.escalationpolicy", "Vaccines", {"groups": [None, "removed: Ward A"]}, ""),
    ]


def test_a_users_own_permissions_are_audited(db, records):
    ann = make_user("ann")
    close = Permission.objects.get(codename="close_excursion")
    with audit_context(user=make_user("boss", role="Admin")):
        ann.user_permissions.add(close)
        ann.user_permissions.clear()
    assert _links(records().filter(model="auth.user", object_id=str(ann.pk), username="boss")) == [
        ("boss", "auth.user", "ann", {"user_permissions": [None, "added: monitoring.close_excursion"]}, ""),
        ("boss", "auth.user", "ann", {"user_permissions": [None, "removed: monitoring.close_excursion"]}, ""),
    ]


def test_links_changed_in_the_admin_are_audited_and_read_in_words_on_the_audit_page(
    admin_client, admin_user, level, records
):
    ana = make_user("ana")
    device = Device.objects.create(account=make_account(), vendor_id="d1", name="Fridge 3")
    policy = level.policy
    form = {
        "name": "Vaccines",
        "description": "",
        "enabled": "on",
        "repeat_minutes": "30",
        "time_zone": "UTC",
        "devices": [str(device.pk)],
        "levels-TOTAL_FORMS": "1",
        "levels-INITIAL_FORMS": "1",
        "levels-MIN_NUM_FORMS": "0",
        "levels-MAX_NUM_FORMS": "1000",
        "levels-0-id": str(level.pk),
        "levels-0-policy": str(policy.pk),
        "levels-0-position": "2",
        "levels-0-delay_minutes": "15",
        "levels-0-users": [str(ana.pk)],
    }
    answer = admin_client.post(f"/admin/alarms/escalationpolicy/{policy.pk}/change/", form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert _links(records().filter(model__startswith="alarms.")) == [
        ("admin", "alarms.escalationpolicy", "Vaccines", {"devices": [None, "added: Fridge 3"]}, ""),
        ("admin", "alarms.escalationlevel", "Vaccines: level 2", {"users": [None, "added: ana"]}, ""),
    ]
    page = admin_client.get("/audit/", {"user": "admin"}).content.decode()
    assert "Added user ana to level 2 of policy Vaccines." in page
    assert "Added device Fridge 3 to policy Vaccines." in page
    form["levels-0-users"] = []
    admin_client.post(f"/admin/alarms/escalationpolicy/{policy.pk}/change/", form)
    page = admin_client.get("/audit/", {"user": "admin"}).content.decode()
    assert "Removed user ana from level 2 of policy Vaccines." in page


def test_the_audit_page_reads_rule_account_and_device_changes_in_words(admin_client, db):
    from monitoring.models import AlarmRule, Channel

    account = make_account()
    ward_a, ward_b = (
        DeploymentGroup.objects.create(name="Ward A"),
        DeploymentGroup.objects.create(name="Ward B"),
    )
    device = Device.objects.create(account=account, vendor_id="d1", name="Fridge 3", group=ward_a)
    channel = Channel.objects.create(device=device, name="t", quantity="temperature", unit="C")
    rule = AlarmRule.objects.create(name="Vaccines 2–8", channel=channel, low_limit=2, high_limit=8)
    AlarmRule.objects.filter(pk=rule.pk).update(high_limit=9)
    account.credentials = {"api_key": "k-new-secret-123"}
    account.save()
    Device.objects.filter(pk=device.pk).update(installation_status="quarantine", group=ward_b)
    page = admin_client.get("/audit/", {"user": "system"}).content.decode()
    assert "Alarm rule Vaccines 2–8: high limit from 8 to 9." in page
    assert "Vendor account thermotrack account: credentials changed (not shown)." in page
    moved = "Device Fridge 3: deployment group from Ward A to Ward B; installation status from Installed to"
    assert f"{moved} Quarantine." in page
    assert "k-new-secret-123" not in page


def test_every_many_to_many_link_of_our_records_has_an_audit_trigger(db):
    from django.apps import apps

    ours = {"alarms", "monitoring", "vendors", "users", "auth"}
    through_tables = {
        field.remote_field.through._meta.db_table
        for model in apps.get_models()
        if model._meta.app_label in ours
        for field in model._meta.local_many_to_many
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE t.tgname LIKE 'pgtrigger_audit_%%' AND c.relname = ANY(%s)",
            [sorted(through_tables)],
        )
        audited = {name for (name,) in cursor.fetchall()}
    assert len(through_tables) >= 9
    assert through_tables - audited == set()
