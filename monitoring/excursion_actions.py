"""The actions on excursions and vendor alerts; each step of an excursion is audited, most are signed.

An excursion goes open -> acknowledged (signed "Acknowledged") -> under investigation (an assignee;
notes, each signed "Investigated" and audited) -> closed (disposition, root cause, product impact; signed
"Closed: ...") -> approved (signed "Approved" by a user of the "QA approver" role), where approval is
required (``EXCURSION_APPROVAL_REQUIRED``, read at closing). A closed or approved excursion can be
reopened with a reason (audited): it goes back under investigation, in a new cycle.

Signing means typing one's user name and password (the first signature of a session) or the password
(later ones): see ``monitoring.signatures``; refusals are audited and throttled like logins. The signature
records the printed name, the time, the meaning and a hash of what it signed (``monitoring.
signature_records``), and the audit trail records the change with the comment or root cause as its reason.
Segregation of duties (``SIGNATURE_SEGREGATION_OF_DUTIES``, on by default): whoever acknowledged an
excursion does not close it, and whoever closed it does not approve the closing. Every refusal is a
``ValidationError`` whose message says what is wrong.

A vendor's temperature alarm of the same event as an excursion (``selectors.matching_vendor_alerts``) is
acknowledged with the excursion, by the same signed acknowledgement, and audited on both.

What the pages call "open" (needs attention) is a state before closed; whether the excursion is still
going on (values still out of range) is ``ended_at is None``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from monitoring.audit import acknowledging, audit_context, record
from monitoring.choices import AuditAction, Disposition, ExcursionState, ProductImpact
from monitoring.models import Excursion, ExcursionNote, ExcursionSignature, VendorAlert
from monitoring.selectors.alerts import matching_excursions, matching_vendor_alerts
from monitoring.signature_records import content_hash, signed_content
from monitoring.signatures import check_signature
from monitoring.vendor_events import EventKind, event_kind, may_acknowledge_in_bulk

APPROVE_PERMISSION = "monitoring.approve_excursion"
INVESTIGATED = "Investigated"


def _sign(
    excursion: Excursion, user, meaning: str, signed_at, note: ExcursionNote | None = None
) -> ExcursionSignature:
    """The signature of a user whose components were checked (``check_signature``), linked to the
    excursion as it now stands (its new state and values already set)."""
    full_name = user.get_full_name() or user.get_username()
    content = signed_content(
        excursion,
        user_id=user.pk,
        full_name=full_name,
        meaning=meaning,
        signed_at=signed_at,
        state=excursion.state,
        cycle=excursion.cycle,
        note_text=note.text if note is not None else None,
    )
    return ExcursionSignature.objects.create(
        excursion=excursion,
        user=user,
        full_name=full_name,
        meaning=meaning,
        signed_at=signed_at,
        state=excursion.state,
        cycle=excursion.cycle,
        note=note,
        content_hash=content_hash(content),
    )


def _locked(excursion: Excursion) -> Excursion:
    # Locked, so two people acting at once cannot both succeed.
    return Excursion.objects.select_for_update().get(pk=excursion.pk)


def _require_state(excursion: Excursion, states: tuple[str, ...], needs: str) -> None:
    """Refuse unless the excursion is in one of ``states``; ``needs`` says what the user must do."""
    if excursion.state not in states:
        state = excursion.get_state_display().lower()
        raise ValidationError(f"This excursion is {state}: {needs}.", code="state")


def _investigating(excursion: Excursion, step: str) -> None:
    if excursion.state == ExcursionState.OPEN:
        needs = f"acknowledge it before {step}"
    elif excursion.state == ExcursionState.ACKNOWLEDGED:
        needs = f"put it under investigation (choose an assignee) before {step}"
    else:
        needs = f"reopen it before {step}"
    _require_state(excursion, (ExcursionState.INVESTIGATING,), needs)


ACKNOWLEDGEABLE = ((ExcursionState.OPEN,), "only an open one can be acknowledged")
ASSIGNABLE = (
    (ExcursionState.ACKNOWLEDGED, ExcursionState.INVESTIGATING),
    "only an acknowledged excursion, or one under investigation, gets an assignee",
)


def _segregation(excursion: Excursion, user, step: str) -> None:
    """Segregation of duties: the closer did not acknowledge, the approver did not close."""
    if not settings.SIGNATURE_SEGREGATION_OF_DUTIES:
        return
    if step == "close" and excursion.acknowledged_by_id == user.pk:
        raise ValidationError(
            "Segregation of duties: you acknowledged this excursion, so someone else must close it.",
            code="segregation",
        )
    if step == "approve" and excursion.closed_by_id == user.pk:
        raise ValidationError(
            "Segregation of duties: you closed this excursion, so someone else must approve the closing.",
            code="segregation",
        )


def excursion_acknowledge(
    excursion: Excursion,
    user,
    comment: str,
    password: str,
    request: HttpRequest | None = None,
    *,
    username: str | None = None,
) -> Excursion:
    """Acknowledge an open excursion: a comment is required, and the user signs.
    With the ``request``, refused signatures count towards the login lockout (``monitoring.signatures``)."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError("A comment is required to acknowledge an excursion.", code="comment")
    _require_state(Excursion.objects.get(pk=excursion.pk), *ACKNOWLEDGEABLE)
    # Before the transaction: a refused signature's audit record and count must outlive its rollback.
    check_signature(user, password, excursion, "Acknowledged", request, username)
    with transaction.atomic():
        excursion = _locked(excursion)
        _require_state(excursion, *ACKNOWLEDGEABLE)
        with audit_context(user=user, reason=comment):
            excursion.state = ExcursionState.ACKNOWLEDGED
            excursion.acknowledged_at = timezone.now()
            excursion.acknowledged_by = user
            excursion.acknowledgement_comment = comment
            excursion.save(
                update_fields=["state", "acknowledged_at", "acknowledged_by", "acknowledgement_comment"]
            )
            signature = _sign(excursion, user, "Acknowledged", excursion.acknowledged_at)
            record(
                AuditAction.ACKNOWLEDGE,
                excursion,
                {"signature": [None, f"{signature.full_name}: Acknowledged"]},
            )
        _acknowledge_matching_vendor_alerts(excursion, user, comment, signature)
    return excursion


def excursion_assign(excursion: Excursion, user, assignee, reason: str = "") -> Excursion:
    """Put an acknowledged excursion under investigation with ``assignee``, or give its investigation to
    another assignee. Audited (not signed: an assignment attests nothing)."""
    if assignee is None:
        raise ValidationError("Choose who investigates the excursion.", code="assignee")
    if not assignee.is_active:
        raise ValidationError("This user can no longer log in: choose another assignee.", code="assignee")
    reason = (reason or "").strip()
    with transaction.atomic():
        excursion = _locked(excursion)
        _require_state(excursion, *ASSIGNABLE)
        starting = excursion.state == ExcursionState.ACKNOWLEDGED
        if not starting and excursion.assignee_id == assignee.pk:
            raise ValidationError("The investigation is already assigned to this user.", code="assignee")
        previous = excursion.assignee.get_username() if excursion.assignee else None
        name = assignee.get_full_name() or assignee.get_username()
        why = reason or (f"Investigation assigned to {name}." if starting else f"Reassigned to {name}.")
        with audit_context(user=user, reason=why):
            excursion.assignee = assignee
            fields = ["assignee"]
            if starting:
                excursion.state = ExcursionState.INVESTIGATING
                excursion.investigation_started_at = timezone.now()
                fields += ["state", "investigation_started_at"]
            excursion.save(update_fields=fields)
            record(
                AuditAction.INVESTIGATE if starting else AuditAction.ASSIGN,
                excursion,
                {"assignee": [previous, assignee.get_username()]},
            )
    return excursion


def excursion_add_note(
    excursion: Excursion,
    user,
    text: str,
    password: str,
    request: HttpRequest | None = None,
    *,
    username: str | None = None,
) -> ExcursionNote:
    """A note of the investigation, signed "Investigated" and audited with its text."""
    text = (text or "").strip()
    if not text:
        raise ValidationError("A note needs some text.", code="note")
    _investigating(Excursion.objects.get(pk=excursion.pk), "adding notes")
    check_signature(user, password, excursion, INVESTIGATED, request, username)
    with transaction.atomic():
        excursion = _locked(excursion)
        _investigating(excursion, "adding notes")
        note = ExcursionNote.objects.create(
            excursion=excursion, author=user, text=text, created_at=timezone.now()
        )
        signature = _sign(excursion, user, INVESTIGATED, note.created_at, note=note)
        record(
            AuditAction.NOTE,
            excursion,
            {"note": [None, text], "signature": [None, f"{signature.full_name}: {INVESTIGATED}"]},
            reason=text,
            user=user,
        )
    return note


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
    *,
    product_impact: str = "",
    username: str | None = None,
) -> Excursion:
    """Close an excursion under investigation with a disposition, a root cause and the product impact;
    the user signs. Where approval is required the closing then awaits an approver's signature."""
    root_cause = (root_cause or "").strip()
    if disposition not in Disposition.values:
        choices = ", ".join(label.lower() for label in Disposition.labels)
        raise ValidationError(
            f"A disposition is required to close an excursion ({choices}).", code="disposition"
        )
    if not root_cause:
        raise ValidationError("A root cause is required to close an excursion.", code="root_cause")
    if product_impact not in ProductImpact.values:
        choices = ", ".join(label.lower() for label in ProductImpact.labels)
        raise ValidationError(
            f"The product impact is required to close an excursion ({choices}).", code="product_impact"
        )
    meaning = f"Closed: {Disposition(disposition).label.lower()}"
    current = Excursion.objects.get(pk=excursion.pk)
    _investigating(current, "closing it")
    _segregation(current, user, "close")
    check_signature(user, password, excursion, meaning, request, username)
    with transaction.atomic():
        excursion = _locked(excursion)
        _investigating(excursion, "closing it")
        _segregation(excursion, user, "close")
        with audit_context(user=user, reason=root_cause):
            excursion.state = ExcursionState.CLOSED
            excursion.closed_at = timezone.now()
            excursion.closed_by = user
            excursion.disposition = disposition
            excursion.root_cause = root_cause
            excursion.product_impact = product_impact
            excursion.approval_required = settings.EXCURSION_APPROVAL_REQUIRED
            excursion.save(
                update_fields=[
                    "state",
                    "closed_at",
                    "closed_by",
                    "disposition",
                    "root_cause",
                    "product_impact",
                    "approval_required",
                ]
            )
            signature = _sign(excursion, user, meaning, excursion.closed_at)
            record(AuditAction.CLOSE, excursion, {"signature": [None, f"{signature.full_name}: {meaning}"]})
    return excursion


def excursion_approve(
    excursion: Excursion,
    user,
    password: str,
    request: HttpRequest | None = None,
    *,
    comment: str = "",
    username: str | None = None,
) -> Excursion:
    """Approve the closing of an excursion that awaits approval: a second signature ("Approved"), by a
    user of the "QA approver" role who did not close it (with segregation of duties)."""
    if not user.has_perm(APPROVE_PERMISSION):
        raise ValidationError("Only a QA approver can approve a closing.", code="permission")
    current = Excursion.objects.get(pk=excursion.pk)
    if current.state == ExcursionState.CLOSED and not current.approval_required:
        raise ValidationError("This closing needs no approval.", code="state")
    _require_state(current, (ExcursionState.CLOSED,), "only a closed one awaiting approval is approved")
    _segregation(current, user, "approve")
    check_signature(user, password, excursion, "Approved", request, username)
    comment = (comment or "").strip()
    with transaction.atomic():
        excursion = _locked(excursion)
        _require_state(excursion, (ExcursionState.CLOSED,), "only a closed one awaiting approval is approved")
        _segregation(excursion, user, "approve")
        with audit_context(user=user, reason=comment or "Closing approved."):
            excursion.state = ExcursionState.APPROVED
            excursion.approved_at = timezone.now()
            excursion.approved_by = user
            excursion.save(update_fields=["state", "approved_at", "approved_by"])
            signature = _sign(excursion, user, "Approved", excursion.approved_at)
            record(AuditAction.APPROVE, excursion, {"signature": [None, f"{signature.full_name}: Approved"]})
    return excursion


def excursion_reopen(excursion: Excursion, user, reason: str) -> Excursion:
    """Reopen a closed (or approved) excursion: back under investigation in a new cycle, its closing
    undone (the audit trail keeps it, and its signatures show as superseded). A reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required to reopen an excursion.", code="reason")
    with transaction.atomic():
        excursion = _locked(excursion)
        if excursion.state not in (ExcursionState.CLOSED, ExcursionState.APPROVED):
            raise ValidationError(
                f"This excursion is {excursion.get_state_display().lower()}: only a closed one can be "
                "reopened.",
                code="state",
            )
        before = excursion.get_state_display()
        with audit_context(user=user, reason=reason):
            excursion.state = ExcursionState.INVESTIGATING
            excursion.cycle += 1
            excursion.closed_at = excursion.closed_by = None
            excursion.approved_at = excursion.approved_by = None
            excursion.disposition = excursion.root_cause = excursion.product_impact = ""
            excursion.approval_required = False
            excursion.save(
                update_fields=[
                    "state",
                    "cycle",
                    "closed_at",
                    "closed_by",
                    "approved_at",
                    "approved_by",
                    "disposition",
                    "root_cause",
                    "product_impact",
                    "approval_required",
                ]
            )
            record(AuditAction.REOPEN, excursion, {"state": [before, excursion.get_state_display()]})
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
