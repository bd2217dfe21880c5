"""What a signature signed, and how it reads: linking (21 CFR 11.70) and manifestation (11.50).

Linking: a signature row holds the SHA-256 of the content it signed: the excursion (its id and cycle), the
signer, the printed name, the meaning, the time, the state the signing put the excursion in, and the
excursion's values that the step set or relied on (the acknowledgement comment; the disposition, root
cause and product impact of a closing; the note's text). The hash is computed again from the record as
it stands: a signature copied onto another excursion, or whose content was edited since (by SQL, say),
no longer matches and shows as broken. A reopening starts a new cycle: signatures of an earlier cycle
whose content the new cycle changed are "superseded by the reopening", not broken.

Manifestation: each signature reads "Ada Quality — Closed: product quarantined — 2026-11-20 14:05 UTC":
the printed name, the meaning, the date and time with its zone. ``signature_lines`` gives these lines
for the PDF report (UTC), ``SIGNATURE_COLUMNS`` and ``signature_rows`` the CSV export, and
``signature_views`` the excursion page (``templates/monitoring/_signatures.html``) in the page's zone.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from django.utils import timezone

from monitoring.csv_cells import SafeCsvWriter
from monitoring.models import Excursion, ExcursionSignature

# The excursion's fields each kind of step signs, besides the state it produced.
ACKNOWLEDGED_FIELDS = ("acknowledgement_comment",)
CLOSED_FIELDS = ("acknowledgement_comment", "disposition", "root_cause", "product_impact")


class Check:
    VALID = "valid"
    BROKEN = "broken"
    SUPERSEDED = "superseded"
    NOT_LINKED = "not linked"


CHECK_LABELS = {
    Check.VALID: "Linked: the signed content is unchanged",
    Check.BROKEN: "Broken: the signed content has changed since the signature",
    Check.SUPERSEDED: "Superseded: the excursion was reopened after this signature",
    Check.NOT_LINKED: "Not linked: signed before signatures held a hash of their content",
}


def signed_fields(state: str, is_note: bool) -> tuple[str, ...]:
    if is_note:
        return ()
    if state in ("closed", "approved"):
        return CLOSED_FIELDS
    return ACKNOWLEDGED_FIELDS


def signed_content(
    excursion: Excursion,
    *,
    user_id: int,
    full_name: str,
    meaning: str,
    signed_at: datetime,
    state: str,
    cycle: int,
    note_text: str | None = None,
) -> dict:
    """The content a signature signs, from the excursion as it stands."""
    content = {
        "excursion": excursion.pk,
        "cycle": cycle,
        "signer": user_id,
        "full_name": full_name,
        "meaning": meaning,
        "signed_at": signed_at.astimezone(UTC).isoformat(),
        "state": state,
    }
    for name in signed_fields(state, note_text is not None):
        content[name] = getattr(excursion, name)
    if note_text is not None:
        content["note"] = note_text
    return content


def content_hash(content: dict) -> str:
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def hash_for(signature: ExcursionSignature, excursion: Excursion) -> str:
    """The hash of what ``signature`` signs, computed from ``excursion`` as it stands now."""
    content = signed_content(
        excursion,
        user_id=signature.user_id,
        full_name=signature.full_name,
        meaning=signature.meaning,
        signed_at=signature.signed_at,
        state=signature.state,
        cycle=signature.cycle,
        note_text=signature.note.text if signature.note_id else None,
    )
    return content_hash(content)


def check(signature: ExcursionSignature, excursion: Excursion) -> str:
    """Whether ``signature`` still matches what it signed (one of ``Check``)."""
    if not signature.content_hash:
        return Check.NOT_LINKED
    if signature.excursion_id == excursion.pk and hash_for(signature, excursion) == signature.content_hash:
        return Check.VALID
    if signature.cycle < excursion.cycle and signature.excursion_id == excursion.pk:
        return Check.SUPERSEDED
    return Check.BROKEN


@dataclass
class SignatureView:
    signature: ExcursionSignature
    check: str

    @property
    def broken(self) -> bool:
        return self.check == Check.BROKEN

    @property
    def check_label(self) -> str:
        return CHECK_LABELS[self.check]


def _signatures(excursion: Excursion) -> list[ExcursionSignature]:
    # From the prefetch where the caller made one (prefetch_related("signatures__note")).
    return sorted(excursion.signatures.all(), key=lambda s: (s.signed_at, s.pk))


def signature_views(excursion: Excursion) -> list[SignatureView]:
    """The excursion's signatures, oldest first, each with its check (for the page)."""
    return [SignatureView(s, check(s, excursion)) for s in _signatures(excursion)]


def when_with_zone(moment: datetime, zone: tzinfo | None = None) -> str:
    """``2026-11-20 14:05 UTC``: in ``zone``, else the active zone (the page's), naming it."""
    local = moment.astimezone(zone) if zone is not None else timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


def signature_line(signature: ExcursionSignature, zone: tzinfo | None = UTC) -> str:
    """The manifestation of one signature: printed name, meaning, date and time with the zone."""
    return f"{signature.full_name} — {signature.meaning} — {when_with_zone(signature.signed_at, zone)}"


def signature_lines(excursion: Excursion, zone: tzinfo | None = UTC) -> list[str]:
    """One line per signature of the excursion, oldest first, with its check where it is not linked
    ("… — BROKEN: the signed content has changed since the signature"): for the PDF report, in UTC."""
    lines = []
    for view in signature_views(excursion):
        line = signature_line(view.signature, zone)
        if view.check != Check.VALID:
            line += f" — {view.check_label}"
        lines.append(line)
    return lines


SIGNATURE_COLUMNS = [
    "excursion_id",
    "device_name",
    "channel_label",
    "excursion_started_at_utc",
    "excursion_state",
    "signer_name",
    "signer_user_name",
    "meaning",
    "signed_at_utc",
    "time_zone",
    "note",
    "content_sha256",
    "signature_check",
]


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signature_rows(excursions: Iterable[Excursion]) -> Iterator[list]:
    """One CSV row per signature of these excursions (with ``select_related("channel__device")`` and
    ``prefetch_related("signatures__user", "signatures__note")`` the rows cost three queries)."""
    for excursion in excursions:
        for view in signature_views(excursion):
            s = view.signature
            yield [
                excursion.pk,
                excursion.channel.device.name,
                excursion.channel.display_name,
                _utc(excursion.started_at),
                excursion.get_state_display(),
                s.full_name,
                s.user.get_username(),
                s.meaning,
                _utc(s.signed_at),
                "UTC",
                s.note.text if s.note_id else "",
                s.content_hash,
                view.check,
            ]


def signatures_csv(excursions: Iterable[Excursion]) -> bytes:
    """The signatures of these excursions as a CSV file (``SIGNATURE_COLUMNS``)."""
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(SIGNATURE_COLUMNS)
    writer.writerows(signature_rows(excursions))
    return out.getvalue().encode()
