"""The actions on excursions and vendor alerts, each step an electronic signature.

An excursion goes open -> acknowledged -> closed.

Signing means re-entering one's password (refusals are audited and throttled like logins: see
``monitoring.signatures``); the signature records the full name, the time and the meaning
("Acknowledged", "Closed: product quarantined"), and the audit trail records the change with the comment
or root cause as its reason. Every refusal is a ``ValidationError`` whose message says what is wrong.

A vendor's temperature alarm of the same event as an excursion (``selectors.matching_vendor_alerts``) is
acknowledged with the excursion, by the same signed acknowledgement, and audited on both.

What the pages call "open" (needs attention) is ``state != closed``; whether the excursion is still going
on (values still out of range) is ``ended_at is None``. See ``Excursion`` queries in the docstrings below.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from monitoring.audit import acknowledging, audit_context, record
from monitoring.models import Excursion, ExcursionSignature, VendorAlert
from monitoring.models.audit import AuditAction
from monitoring.models.excursions import Disposition, ExcursionState
from monitoring.selectors.alerts import matching_excursions, matching_vendor_alerts
from monitoring.signatures import check_signature_password
from monitoring.vendor_events import EventKind, event_kind, may_acknowledge_in_bulk


def _sign(excursion: Excursion, user, meaning: str) -> ExcursionSignature:
    """The signature of a user whose password was checked (``check_signature_password``)."""
    return ExcursionSignature.objects.create(
        excursion=excursion,
        user=user,
        full_name=user.get_full_name() or user.get_username(),
        meaning=meaning,
        signed_at=timezone.now(),
    )


def excursion_acknowledge(
    excursion: Excursion, user, comment: str, password: str, request: HttpRequest | None = None
) -> Excursion:
    """Acknowledge an open excursion: a comment is required, and the user signs with their password.
    With the ``request``, refused passwords count towards the login lockout (``monitoring.signatures``)."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError("A comment is required to acknowledge an excursion.", code="comment")
    # Before the transaction: a refused signature's audit record and count must outlive its rollback.
    check_signature_password(user, password, excursion, "Acknowledged", request)
    with transaction.atomic():
        # Locked, so two people acknowledging at once cannot both succeed.
        excursion = Excursion.objects.select_for_update().get(pk=excursion.pk)
        if excursion.state != ExcursionState.OPEN:
            raise ValidationError(
                f"This excursion is {excursion.get_state_display().lower()}: only an open one can be "
                "acknowledged.",
                code="state",
            )
        signature = _sign(excursion, user, "Acknowledged")
        with audit_context(user=user, reason=comment):
            excursion.state = ExcursionState.ACKNOWLEDGED
            excursion.acknowledged_at = signature.signed_at
            excursion.acknowledged_by = user
            excursion.acknowledgement_comment = comment
            excursion.save(
                update_fields=["state", "acknowledged_at", "acknowledged_by", "acknowledgement_comment"]
            )
            record(
                AuditAction.ACKNOWLEDGE,
                excursion,
                {"signature": [None, f"{signature.full_name}: Acknowledged"]},
            )
        _acknowledge_matching_vendor_alerts(excursion, user, comment, signature)
    return excursion


def _acknowledge_matching_vendor_alerts(excursion: Excursion, user, comment: str, signature) -> None:
    """The vendors' temperature alarms of the same event, acknowledged by the excursion's signature:
    each audited as a vendor alert's acknowledgement naming the excursion, and the excursion's trail
    naming them."""
    alerts = matching_vendor_alerts(excursion)
    if not alerts:
        return
    reason = f"{comment} (with the signed acknowledgement of excursion {excursion.pk})"
    for alert in alerts:
        _set_acknowledged(alert, user, comment, reason, at=signature.signed_at)
    names = ", ".join(f"{a.alert_type} at {a.started_at:%Y-%m-%d %H:%M} UTC" for a in alerts)
    record(
        AuditAction.ACKNOWLEDGE,
        excursion,
        {"vendor alerts": [None, f"acknowledged with it: {names}"]},
        reason=comment,
        user=user,
    )


def _set_acknowledged(alert: VendorAlert, user, comment: str, reason: str, at=None) -> None:
    with audit_context(user=user, reason=reason), acknowledging():
        alert.acknowledged_at = at or timezone.now()
        alert.acknowledged_by = user
        alert.acknowledgement_comment = comment
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement_comment"])
    record(
        AuditAction.ACKNOWLEDGE,
        alert,
        {"acknowledgement_comment": [None, comment]},
        reason=reason,
        user=user,
    )


def excursion_close(
    excursion: Excursion,
    user,
    disposition: str,
    root_cause: str,
    password: str,
    request: HttpRequest | None = None,
) -> Excursion:
    """Close an acknowledged excursion with a disposition and a root cause; the user signs."""
    root_cause = (root_cause or "").strip()
    if disposition not in Disposition.values:
        choices = ", ".join(label.lower() for label in Disposition.labels)
        raise ValidationError(
            f"A disposition is required to close an excursion ({choices}).", code="disposition"
        )
    if not root_cause:
        raise ValidationError("A root cause is required to close an excursion.", code="root_cause")
    meaning = f"Closed: {Disposition(disposition).label.lower()}"
    check_signature_password(user, password, excursion, meaning, request)
    with transaction.atomic():
        excursion = Excursion.objects.select_for_update().get(pk=excursion.pk)
        if excursion.state != ExcursionState.ACKNOWLEDGED:
            raise ValidationError(
                "This excursion is open: acknowledge it before closing it."
                if excursion.state == ExcursionState.OPEN
                else "This excursion is already closed.",
                code="state",
            )
        signature = _sign(excursion, user, meaning)
        with audit_context(user=user, reason=root_cause):
            excursion.state = ExcursionState.CLOSED
            excursion.closed_at = signature.signed_at
            excursion.closed_by = user
            excursion.disposition = disposition
            excursion.root_cause = root_cause
            excursion.save(update_fields=["state", "closed_at", "closed_by", "disposition", "root_cause"])
            record(AuditAction.CLOSE, excursion, {"signature": [None, f"{signature.full_name}: {meaning}"]})
    return excursion


def vendor_alert_acknowledge(alert: VendorAlert, user, comment: str) -> VendorAlert:
    """Acknowledge an alert raised by a vendor's cloud (no signature: it is not a GxP record of ours).
    The only way to set an alert's acknowledgement: the admin shows it read-only, PostgreSQL refuses any
    other change to it, and the audit trail records the change and the acknowledgement."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError("A comment is required to acknowledge an alert.", code="comment")
    with transaction.atomic():
        alert = VendorAlert.objects.select_for_update().get(pk=alert.pk)
        if alert.acknowledged_at:
            raise ValidationError("This alert is already acknowledged.", code="state")
        excursion = matching_excursions([alert]).get(alert.pk)
        if excursion is not None and excursion.state == ExcursionState.OPEN:
            # One event, one signed acknowledgement: the excursion's, which covers this alarm too.
            raise ValidationError(
                f"This alarm is the same event as excursion {excursion.pk}: acknowledge the excursion "
                "(with your signature); that acknowledges this alarm too.",
                code="signed",
            )
        _set_acknowledged(alert, user, comment, comment)
    return alert


def vendor_alerts_acknowledge(alerts: Iterable[VendorAlert], user, comment: str) -> int:
    """Acknowledge many vendor events with one comment (each audited on its own); only events that are
    not about the product (zones, speed, stops, batteries: ``vendor_events.BULK_KINDS``). Those already
    acknowledged are skipped. Returns how many were acknowledged."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError("A comment is required to acknowledge events.", code="comment")
    pks = [a.pk for a in alerts]
    with transaction.atomic():
        locked = list(
            VendorAlert.objects.select_for_update()
            .filter(pk__in=pks, acknowledged_at__isnull=True)
            .order_by("started_at", "pk")
        )
        refused = {event_kind(a.alert_type, a.message) for a in locked} - {
            kind for kind in EventKind if may_acknowledge_in_bulk(kind)
        }
        if refused:
            words = ", ".join(sorted(EventKind(kind).label.lower() for kind in refused))
            raise ValidationError(
                f"Events about the product ({words}) are acknowledged one by one, not in bulk.", code="kind"
            )
        now = timezone.now()
        for alert in locked:
            _set_acknowledged(alert, user, comment, comment, at=now)
    return len(locked)
