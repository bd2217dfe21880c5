"""The audit trail, electronic signatures and the permanence of readings and audit records."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from monitoring.audit import purge_allowed
from monitoring.excursion_actions import (
    excursion_acknowledge,
    excursion_assign,
    excursion_close,
    vendor_alert_acknowledge,
)
from monitoring.models import AlarmRule, AuditRecord, Channel, Device, Excursion, Reading, VendorAlert
from tests.conftest import FIXED_NOW
from tests.factories import PASSWORD, make_account, make_user


@pytest.fixture
def channel(db):
    device = Device.objects.create(account=make_account(), vendor_id="d1", name="Fridge 1")
    return Channel.objects.create(device=device, name="t", quantity="temperature", unit="C")


@pytest.fixture
def excursion(channel):
    rule = AlarmRule.objects.create(name="2–8", channel=channel, low_limit=2, high_limit=8)
    return Excursion.objects.create(
        channel=channel, rule=rule, started_at=FIXED_NOW - timedelta(hours=3), ended_at=FIXED_NOW
    )


def test_it_acknowledges_and_closes_with_signatures_and_audit_records(excursion):
    user = make_user()
    user.first_name, user.last_name = "Ada", "Quality"
    user.save()
    closer = make_user("bob")
    excursion_acknowledge(excursion, user, "Door left open by the night shift", PASSWORD, username="qa")
    excursion_assign(excursion, user, closer)
    excursion_close(
        excursion,
        closer,
        "no_product_impact",
        "Door alarm added",
        PASSWORD,
        product_impact="not_affected",
        username="bob",
    )
    excursion.refresh_from_db()
    assert excursion.state == "closed" and excursion.closed_by == closer
    assert [(s.full_name, s.meaning) for s in excursion.signatures.all()] == [
        ("Ada Quality", "Acknowledged"),
        ("bob", "Closed: no product impact"),
    ]
    trail = AuditRecord.objects.filter(model="monitoring.excursion", object_id=str(excursion.pk)).order_by(
        "id"
    )
    assert [r.action for r in trail] == [
        "create",
        "update",
        "acknowledge",
        "update",
        "investigate",
        "update",
        "close",
    ]
    acknowledged = trail[1]
    assert acknowledged.username == "qa" and acknowledged.reason == "Door left open by the night shift"
    assert acknowledged.changes["state"] == ["open", "acknowledged"]
    assert trail[5].changes["disposition"] == ["", "no_product_impact"]
    assert trail[5].changes["product_impact"] == ["", "not_affected"]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (lambda e, u: excursion_acknowledge(e, u, "", PASSWORD, username="qa"), "comment is required"),
        (
            lambda e, u: excursion_acknowledge(e, u, "ok", "wrong password", username="qa"),
            "Signature refused",
        ),
        (
            lambda e, u: excursion_close(
                e, u, "no_product_impact", "cause", PASSWORD, product_impact="released", username="qa"
            ),
            "acknowledge it before",
        ),
    ],
)
def test_it_refuses_a_missing_comment_a_wrong_password_and_a_wrong_state(excursion, step, message):
    user = make_user()
    with pytest.raises(ValidationError) as refused:
        step(excursion, user)
    assert message in " ".join(refused.value.messages)
    excursion.refresh_from_db()
    assert excursion.state == "open" and not excursion.signatures.exists()


def test_closing_needs_a_disposition_a_root_cause_and_the_product_impact(excursion):
    user = make_user()
    excursion_acknowledge(excursion, user, "seen", PASSWORD, username="qa")
    excursion_assign(excursion, user, user)
    closer = make_user("bob")
    with pytest.raises(ValidationError, match="disposition is required"):
        excursion_close(excursion, closer, "", "cause", PASSWORD, product_impact="released", username="bob")
    with pytest.raises(ValidationError, match="root cause is required"):
        excursion_close(excursion, closer, "other", " ", PASSWORD, product_impact="released", username="bob")
    with pytest.raises(ValidationError, match="product impact is required"):
        excursion_close(excursion, closer, "other", "cause", PASSWORD, username="bob")


def test_it_acknowledges_a_vendor_alert(channel):
    alert = VendorAlert.objects.create(
        account=channel.device.account, vendor_alert_id="a1", alert_type="High", started_at=FIXED_NOW
    )
    user = make_user()
    vendor_alert_acknowledge(alert, user, "Checked on site")
    alert.refresh_from_db()
    assert alert.acknowledged_by == user and alert.acknowledgement_comment == "Checked on site"
    with pytest.raises(ValidationError, match="already acknowledged"):
        vendor_alert_acknowledge(alert, user, "again")


def test_a_rule_change_in_the_page_records_who_what_old_new_and_why(client, channel):
    admin = make_user("boss", role="Admin")
    client.force_login(admin)
    rule = AlarmRule.objects.create(name="2–8", channel=channel, low_limit=2, high_limit=8)
    data = {"name": "2–8", "quantity": "temperature", "channel": channel.pk, "low_limit": 2, "high_limit": 9}
    data |= {"delay_minutes": 0, "clear_margin": 0, "severity": "alarm", "activation_energy": 83.144}
    response = client.post(f"/rules/{rule.pk}/", data | {"reason": "New vaccine range", "enabled": "on"})
    assert response.status_code == 302
    record = AuditRecord.objects.filter(model="monitoring.alarmrule", action="update").get()
    assert (record.username, record.reason) == ("boss", "New vaccine range")
    assert record.changes == {"high_limit": [8.0, 9.0]}


def test_a_rule_for_another_quantity_must_name_its_channel(client, channel):
    client.force_login(make_user("boss", role="Admin"))
    volts = Channel.objects.create(device=channel.device, name="ch3", quantity="other", unit="V")
    data = {"name": "Supply", "quantity": "other", "high_limit": 3.0, "delay_minutes": 0, "clear_margin": 0}
    data |= {
        "severity": "alarm",
        "activation_energy": 83.144,
        "reason": "Pressure transmitter",
        "enabled": "on",
    }
    refused = client.post("/rules/", data | {"device": channel.device.pk})
    assert refused.status_code == 400 and "must name its channel" in refused.content.decode()
    assert client.post("/rules/", data | {"channel": volts.pk}).status_code == 302
    assert AlarmRule.objects.get(name="Supply").channel == volts


def test_the_rules_page_is_for_admin_users_only(client, db):
    client.force_login(make_user())
    assert client.get("/rules/").status_code == 403
    client.force_login(make_user("boss", role="Admin"))
    assert client.get("/rules/").status_code == 200


def test_device_and_account_changes_are_audited_but_sync_bookkeeping_is_not(channel):
    device = channel.device
    device.name = "Vaccine fridge"
    device.save()
    device.battery, device.last_seen = 50.0, FIXED_NOW
    device.save(update_fields=["battery", "last_seen"])
    account = device.account
    account.credentials = {"api_key": "k-new-secret-123"}
    account.save()
    updates = AuditRecord.objects.filter(action="update")
    assert [(r.model, r.username, set(r.changes)) for r in updates.order_by("id")] == [
        ("monitoring.device", "system", {"name"}),
        ("vendors.vendoraccount", "system", {"credentials"}),
    ]
    assert "k-new-secret-123" not in str(AuditRecord.objects.values_list("changes", flat=True))


def test_the_audit_trail_page_filters_and_exports_csv(client, excursion):
    user = make_user()
    excursion_acknowledge(excursion, user, "Door left open", PASSWORD, username="qa")
    client.force_login(user)
    page = client.get("/audit/", {"user": "qa"})
    assert page.status_code == 200 and "Door left open" in page.content.decode()
    response = client.get("/audit/", {"model": "monitoring.excursion", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["model"] for r in rows} == {"monitoring.excursion"}
    state = next(r for r in rows if r["field"] == "state")
    assert (state["user"], state["old"], state["new"], state["reason"]) == (
        "qa",
        "open",
        "acknowledged",
        "Door left open",
    )


def test_the_excursion_page_acknowledges_with_a_signature(client, excursion):
    user = make_user()
    client.force_login(user)
    assert client.get(f"/excursions/{excursion.pk}/").status_code == 200
    refused = client.post(
        f"/excursions/{excursion.pk}/acknowledge/", {"comment": "seen", "username": "qa", "password": "nope"}
    )
    assert refused.status_code == 400 and "Signature refused" in refused.content.decode()
    done = client.post(
        f"/excursions/{excursion.pk}/acknowledge/",
        {"comment": "seen", "username": "qa", "password": PASSWORD},
    )
    assert done.status_code == 302
    excursion.refresh_from_db()
    assert excursion.state == "acknowledged"


@pytest.mark.parametrize("statement", ["UPDATE {table} SET {column} = {column}", "DELETE FROM {table}"])
@pytest.mark.parametrize(
    ("table", "column"), [("monitoring_reading", "value"), ("monitoring_auditrecord", "reason")]
)
def test_the_database_refuses_to_update_or_delete_readings_and_audits(channel, table, column, statement):
    Reading.objects.create(channel=channel, timestamp=FIXED_NOW, value=5.0)
    assert AuditRecord.objects.exists()
    with pytest.raises(DatabaseError, match="permanent"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement.format(table=table, column=column))


def test_an_explicit_purge_may_delete_readings_but_never_audit_records(channel):
    Reading.objects.create(channel=channel, timestamp=FIXED_NOW, value=5.0)
    with purge_allowed():
        Reading.objects.filter(channel=channel).delete()
    assert not Reading.objects.exists()
    with pytest.raises(DatabaseError, match="permanent"), purge_allowed():
        AuditRecord.objects.all().delete()
    with pytest.raises(DatabaseError, match="permanent"), transaction.atomic():
        Reading.objects.create(channel=channel, timestamp=FIXED_NOW, value=5.0)
        Reading.objects.filter(channel=channel).delete()  # outside a purge: refused again
