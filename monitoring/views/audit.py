"""The audit trail page: filters (who, which record, action, period, free text) and exports of the same as
CSV and as a signed PDF (``monitoring/audit_pdf.py``); each export is itself audited."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET

from monitoring.audit import record_export
from monitoring.audit_pdf import record_signed_pdf, render_audit_pdf, reserve_record_number
from monitoring.audit_sentences import record_sentences
from monitoring.choices import AuditAction
from monitoring.csv_cells import csv_lines
from monitoring.forms import parse_moment
from monitoring.models import AuditRecord

PAGE_SIZE = 100


def filtered_records(params):
    records = AuditRecord.objects.all()
    if params.get("user"):
        records = records.filter(username=params["user"])
    if params.get("model"):
        records = records.filter(model=params["model"])
    if params.get("action"):
        records = records.filter(action=params["action"])
    if params.get("object_id"):
        records = records.filter(object_id=params["object_id"])
    start, end = parse_moment(params.get("start")), parse_moment(params.get("end"))
    if end and parse_date(params["end"]):
        end += timedelta(days=1)  # "to 20 November" includes that day
    if start:
        records = records.filter(at__gte=start)
    if end:
        records = records.filter(at__lt=end)
    if params.get("q"):
        records = records.filter(Q(object_repr__icontains=params["q"]) | Q(reason__icontains=params["q"]))
    return records.order_by("-at", "-id")


CSV_COLUMNS = ["at", "user", "action", "model", "object_id", "object", "field", "old", "new", "reason"]


def _csv_rows(records):
    for r in records.iterator(chunk_size=2000):
        at = r.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        changes = r.changes or {"": [None, None]}
        for name, (old, new) in changes.items():
            yield (
                [
                    at,
                    r.username,
                    r.action,
                    r.model,
                    r.object_id,
                    r.object_repr,
                    name,
                    _cell(old),
                    _cell(new),
                    r.reason,
                ]
            )


def _cell(value):
    """An old or new value as a cell: numbers stay numbers (a limit of -20 is not text to neutralise)."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return value if isinstance(value, str) else json.dumps(value)


FILTERS = ["user", "model", "object_id", "action", "start", "end", "q"]


def _described(params) -> str:
    """The filters in force, as the export states them: "user=qa, model=monitoring.alarmrule"."""
    return ", ".join(f"{name}={params[name]}" for name in FILTERS if params.get(name))


def _without(params, *names) -> str:
    kept = params.copy()
    for name in names:
        kept.pop(name, None)
    return kept.urlencode()


def _pdf(request, records):
    number = reserve_record_number()
    now = timezone.now()
    filters = _described(request.GET)
    content, count = render_audit_pdf(
        records, user=request.user, filters=filters, number=number, generated_at=now
    )
    record_signed_pdf(content, user=request.user, number=number, filters=filters, count=count)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{now:%Y%m%dT%H%M%SZ}.pdf"'
    return response


@require_GET
@permission_required("monitoring.view_auditrecord", raise_exception=True)
def audit_trail(request):
    records = filtered_records(request.GET)
    if request.GET.get("format") == "pdf":
        return _pdf(request, records)
    if request.GET.get("format") == "csv":
        start, end = parse_moment(request.GET.get("start")), parse_moment(request.GET.get("end"))
        record_export(request.user, "audit trail", start=start, end=end, details=_described(request.GET))
        response = StreamingHttpResponse(
            csv_lines(_csv_rows(records), CSV_COLUMNS), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
        return response
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    for record, sentence in zip(page.object_list, record_sentences(page.object_list), strict=True):
        record.sentence = sentence
    context = {
        "page": page,
        "filters": request.GET,
        "actions": AuditAction.choices,
        "models": AuditRecord.objects.order_by("model").values_list("model", flat=True).distinct(),
        "query": request.GET.urlencode(),
        "export_query": _without(request.GET, "page", "format"),
    }
    return render(request, "monitoring/audit_trail.html", context)
