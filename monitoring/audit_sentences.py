"""An excursion's audit trail told in sentences for its page and its report: "Acknowledged by Ana Silva,
2026-11-20 14:02 UTC: door left open". The records themselves stay as written (``monitoring.audit``);
the raw rows are still shown under the sentences for the auditor who wants every field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from monitoring.choices import InstallationStatus
from monitoring.models import AuditRecord
from monitoring.models.audit import AuditAction
from monitoring.models.excursions import Excursion

SYSTEM = "system"
# Fields of an excursion in words; the others keep their own name.
FIELD_WORDS = {
    "ended_at": "end",
    "peak_value": "peak",
    "peak_at": "time of the peak",
    "degree_minutes": "degree-minutes out of range",
    "mkt": "mean kinetic temperature",
    "state": "state",
    "severity": "severity",
    "low_limit": "low limit",
    "high_limit": "high limit",
}
# Set by the steps of the lifecycle (acknowledgement, investigation, closing, approval, reopening): the
# step's own record says it in words.
SIGNED_FIELDS = {
    "state",
    "cycle",
    "acknowledged_at",
    "acknowledged_by",
    "acknowledgement_comment",
    "assignee",
    "investigation_started_at",
    "closed_at",
    "closed_by",
    "disposition",
    "root_cause",
    "product_impact",
    "approval_required",
    "approved_at",
    "approved_by",
    "reminded_at",
    "escalated_at",
}


@dataclass
class TrailSentence:
    at: datetime
    text: str


def when(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _who(record: AuditRecord) -> str:
    return "the system" if record.username == SYSTEM else record.username


def _signer(record: AuditRecord) -> str:
    """The signer's full name from the signature line ("Ana Silva: Acknowledged"), else the user name."""
    signature = (record.changes or {}).get("signature")
    if isinstance(signature, list) and len(signature) == 2 and signature[1]:
        name = str(signature[1]).split(": ", 1)[0]
        if name and name != record.username:
            return f"{name} ({record.username})"
        return name or record.username
    return record.username


def _value(name: str, value) -> str:
    if value in (None, ""):
        return "none"
    if name.endswith("_at") and isinstance(value, str):
        try:
            return when(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def sentence(record: AuditRecord) -> str | None:
    """One record in words; None for a record another one already says (the state change of a signed
    acknowledgement)."""
    at = when(record.at)
    changes = record.changes or {}
    if record.action == AuditAction.CREATE:
        return f"Opened by {_who(record)}, {at}."
    if record.action == AuditAction.ACKNOWLEDGE:
        return (
            f"Acknowledged by {_signer(record)}, {at}: {record.reason}"
            if record.reason
            else (f"Acknowledged by {_signer(record)}, {at}.")
        )
    if record.action == AuditAction.CLOSE:
        signature = changes.get("signature") or [None, ""]
        meaning = str(signature[1]).split(": ", 1)[-1] if signature[1] else "Closed"
        text = f"{meaning} by {_signer(record)}, {at}"
        return f"{text}. Root cause: {record.reason}" if record.reason else f"{text}."
    if record.action == AuditAction.SIGNATURE_REFUSED:
        return f"Signature refused for {record.username} (wrong password), {at}."
    if record.action == AuditAction.LOCKED_OUT:
        return f"{record.username} locked out after too many refused signatures, {at}."
    if record.action == AuditAction.UPDATE:
        shown = {k: v for k, v in changes.items() if k not in SIGNED_FIELDS}
        if not shown:
            return None
        if set(shown) == {"ended_at"} or ("ended_at" in shown and shown["ended_at"][0] is None):
            ended = _value("ended_at", shown["ended_at"][1])
            rest = {k: v for k, v in shown.items() if k != "ended_at"}
            details = "; ".join(_change(k, v) for k, v in rest.items())
            return f"Ended {ended} (recorded by {_who(record)}, {at})" + (f"; {details}." if details else ".")
        details = "; ".join(_change(k, v) for k, v in shown.items())
        reason = f" Reason: {record.reason}" if record.reason else ""
        return f"Changed by {_who(record)}, {at}: {details}.{reason}"
    return f"{record.get_action_display()} by {_who(record)}, {at}." + (
        f" {record.reason}" if record.reason else ""
    )


def _change(name: str, pair, words: str | None = None) -> str:
    old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
    words = words or FIELD_WORDS.get(name, name.replace("_", " "))
    if old in (None, ""):
        return f"{words} set to {_value(name, new)}"
    return f"{words} from {_value(name, old)} to {_value(name, new)}"


def excursion_trail(excursion: Excursion) -> tuple[list[AuditRecord], list[TrailSentence]]:
    """The excursion's audit records, oldest first, and the same in sentences."""
    records = list(
        AuditRecord.objects.filter(model="monitoring.excursion", object_id=str(excursion.pk)).order_by(
            "at", "id"
        )
    )
    sentences = []
    for record in records:
        text = sentence(record)
        if text:
            sentences.append(TrailSentence(record.at, text))
    return records, sentences


# Many-to-many links (who a level reaches, what a policy covers, a user's roles and permissions) are
# recorded as a change of their owner, {"users": [null, "added: ana"]}: (owner, field) -> the linked
# record in words.
LINKS = {
    ("alarms.escalationlevel", "users"): "user",
    ("alarms.escalationlevel", "groups"): "role",
    ("alarms.escalationlevel", "channels"): "channel",
    ("alarms.escalationpolicy", "devices"): "device",
    ("alarms.escalationpolicy", "groups"): "deployment group",
    ("alarms.escalationpolicy", "profiles"): "alarm profile",
    ("auth.user", "groups"): "role",
    ("auth.user", "user_permissions"): "permission",
    ("auth.group", "permissions"): "permission",
}
OWNERS = {"alarms.escalationpolicy": "policy", "auth.user": "user", "auth.group": "role"}


def _owner(record: AuditRecord) -> str:
    if record.model == "alarms.escalationlevel":
        # Shown as "<policy>: level <n>" by its trigger (alarms.models.LEVEL_SHOWN).
        policy, _, position = record.object_repr.rpartition(": level ")
        return f"level {position} of policy {policy}" if policy else record.object_repr
    return f"{OWNERS.get(record.model, record.model)} {record.object_repr}"


def link_sentence(record: AuditRecord) -> str | None:
    """A link added or removed in words: "Added user ana to level 2 of policy Vaccines."; None for a
    record that is not a link."""
    changes = record.changes or {}
    if record.action != AuditAction.UPDATE or len(changes) != 1:
        return None
    ((field, pair),) = changes.items()
    what = LINKS.get((record.model, field))
    if what is None or not isinstance(pair, list) or len(pair) != 2 or pair[0] is not None:
        return None
    verb, _, member = str(pair[1]).partition(": ")
    if verb == "added":
        return f"Added {what} {member} to {_owner(record)}."
    if verb == "removed":
        return f"Removed {what} {member} from {_owner(record)}."
    return None


# The common records of the audit trail page, changed, in words: "Alarm rule 2–8 °C: high limit from 8
# to 9." (their creation and deletion keep every field as written).
RECORD_WORDS = {
    "monitoring.alarmrule": "Alarm rule",
    "monitoring.alarmprofile": "Alarm profile",
    "monitoring.device": "Device",
    "monitoring.deploymentgroup": "Deployment group",
    "vendors.vendoraccount": "Vendor account",
    "alarms.escalationpolicy": "Escalation policy",
    "alarms.escalationlevel": "Escalation",
}
OTHER_FIELD_WORDS = {
    "installation_status": "installation status",
    "group": "deployment group",
    "delay_minutes": "delay (minutes)",
    "clear_margin": "clear margin",
    "repeat_minutes": "repeat (minutes)",
    "base_url": "base URL",
}
SECRET = "(changed, not shown)"  # as the triggers write a secret (monitoring/audit_sql.py)


def change_sentence(record: AuditRecord, group_names: dict[int, str] | None = None) -> str | None:
    """A change of a common record in words; None for the others (their fields stay as written).
    ``group_names``: deployment groups' names by id, for a device moved from one group to another."""
    words = RECORD_WORDS.get(record.model)
    changes = record.changes or {}
    if words is None or record.action != AuditAction.UPDATE or not changes:
        return None
    details = []
    for name, pair in changes.items():
        if not isinstance(pair, list) or len(pair) != 2:
            return None
        old, new = pair
        field = OTHER_FIELD_WORDS.get(name, FIELD_WORDS.get(name, name.replace("_", " ")))
        if SECRET in (old, new):
            details.append(f"{field} changed (not shown)")
            continue
        if name == "installation_status":
            old, new = (InstallationStatus(v).label if v in InstallationStatus.values else v for v in pair)
        elif name == "group" and record.model == "monitoring.device" and group_names is not None:
            old, new = (group_names.get(v, f"#{v}") if v is not None else None for v in pair)
        details.append(_change(name, [old, new], field))
    return f"{words} {record.object_repr}: {'; '.join(details)}."


def record_sentences(records: list[AuditRecord]) -> list[str | None]:
    """The audit trail page's records in words where they have words (None: their fields as written),
    with one query for the names of the deployment groups they name."""
    from monitoring.models import DeploymentGroup

    group_ids = {
        value
        for record in records
        if record.model == "monitoring.device"
        for value in ((record.changes or {}).get("group") or [])
        if isinstance(value, int)
    }
    names = (
        dict(DeploymentGroup.objects.filter(id__in=group_ids).values_list("id", "name")) if group_ids else {}
    )
    return [link_sentence(record) or change_sentence(record, names) for record in records]
