"""The audit trail page: filters (who, what, action, period, free text) and a CSV export of the same."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

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


@require_GET
@permission_required("monitoring.view_auditrecord", raise_exception=True)
def audit_trail(request):
    records = filtered_records(request.GET)
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(
            csv_lines(_csv_rows(records), CSV_COLUMNS), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
        return response
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": request.GET,
        "actions": AuditAction.choices,
        "models": AuditRecord.objects.order_by("model").values_list("model", flat=True).distinct(),
        "query": request.GET.urlencode(),
    }
    return render(request, "monitoring/audit_trail.html", context)
