"""Sync status of each vendor account; "Sync now" starts the Celery task and polls until it is done."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from monitoring import partitions, selectors
from monitoring.views.common import problem
from vendors.models import VendorAccount
from vendors.tasks import sync_account

# Starting a sync changes no configuration: QA users (who may view accounts) may ask for one.
VIEW_ACCOUNTS = "vendors.view_vendoraccount"


@require_GET
def sync_status(request):
    context = {"accounts": selectors.accounts_with_counts(), "strays": partitions.all_stray_months()}
    return render(request, "monitoring/sync_status.html", context)


@require_POST
@permission_required(VIEW_ACCOUNTS, raise_exception=True)
def sync_now(request, pk: int):
    account = get_object_or_404(VendorAccount, pk=pk)
    if not account.enabled:
        return problem(request, f"{account.name} is disabled: enable it in the admin first.", status=409)
    requested_at = timezone.now()
    sync_account.delay(account.pk)
    return _progress(request, account, requested_at)


@require_GET
def sync_progress(request, pk: int):
    account = get_object_or_404(VendorAccount, pk=pk)
    try:
        requested_at = datetime.fromisoformat(request.GET.get("since", ""))
    except ValueError:
        return problem(request, "The progress link is broken: start the sync again.")
    if timezone.is_naive(requested_at):
        return problem(request, "The progress link is broken: start the sync again.")
    return _progress(request, account, requested_at)


def _progress(request, account, requested_at):
    account.refresh_from_db()
    progress = selectors.account_progress(account, requested_at)
    context = {"account": account, "progress": progress, "since": requested_at.isoformat()}
    if not progress["done"]:
        return render(request, "monitoring/sync_status.html#progress", context)
    # Done: the account's whole row again, with its new figures (last success, devices, readings) and
    # the outcome; 286 stops the polling. Only this row: another sync's progress elsewhere keeps polling.
    context["a"] = next(a for a in selectors.accounts_with_counts() if a.pk == account.pk)
    response = render(request, "monitoring/sync_status.html#account-row", context)
    stopped = HttpResponseStopPolling(response.content)
    stopped["HX-Retarget"] = f"#account-{account.pk}"
    stopped["HX-Reswap"] = "outerHTML"
    return stopped
