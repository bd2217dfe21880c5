"""Excursion pages: the detail with its signatures and audit trail, and each step of its lifecycle
(acknowledge, investigate, note, close, approve, reopen: ``monitoring.excursion_actions``). The forms post
with htmx: a refusal comes back inside the form (``_excursion_lifecycle.html``), a success reloads the
page. The excursion report: ``monitoring.views.reports``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from alarms.calibration import corrections_for
from alarms.suppression import windows_between
from coldchain.security import lockout_response
from monitoring import excursion_actions, figures, selectors
from monitoring.audit_sentences import excursion_trail
from monitoring.choices import Disposition, ExcursionState, ProductImpact
from monitoring.csv_cells import csv_lines
from monitoring.models import Excursion
from monitoring.signature_records import SIGNATURE_COLUMNS, signature_rows, signature_views
from monitoring.signatures import SignatureLockedOut, user_name_required

LIFECYCLE_TEMPLATE = "monitoring/_excursion_lifecycle.html"
# Who may be given an investigation: active users who may acknowledge excursions.
INVESTIGATOR_PERMISSION = Q(groups__permissions__codename="acknowledge_excursion") | Q(
    user_permissions__codename="acknowledge_excursion"
)


def _get_excursion(pk: int) -> Excursion:
    queryset = Excursion.objects.select_related(
        "channel__device__group",
        "rule",
        "rule_version",
        "acknowledged_by",
        "closed_by",
        "assignee",
        "approved_by",
    ).prefetch_related("signatures__note", "signatures__user", "notes__author")
    return get_object_or_404(queryset, pk=pk)


def _assignees():
    User = get_user_model()
    return (
        User.objects.filter(is_active=True)
        .filter(INVESTIGATOR_PERMISSION | Q(is_superuser=True))
        .distinct()
        .order_by("username")
    )


def _steps(excursion: Excursion, user) -> set[str]:
    """The steps whose forms the page offers this user now."""
    state, steps = excursion.state, set()
    can = user.has_perm
    if can("monitoring.acknowledge_excursion"):
        if state == ExcursionState.OPEN:
            steps.add("acknowledge")
        if state in (ExcursionState.ACKNOWLEDGED, ExcursionState.INVESTIGATING):
            steps.add("investigate")
        if state == ExcursionState.INVESTIGATING:
            steps.add("note")
    if can("monitoring.close_excursion"):
        if state == ExcursionState.INVESTIGATING:
            steps.add("close")
        if state in (ExcursionState.CLOSED, ExcursionState.APPROVED):
            steps.add("reopen")
    if can("monitoring.approve_excursion") and state == ExcursionState.CLOSED and excursion.approval_required:
        steps.add("approve")
    return steps


def _lifecycle_context(request, excursion: Excursion, failed: str = "", error: str = "") -> dict:
    steps = _steps(excursion, request.user)
    return {
        "excursion": excursion,
        "steps": steps,
        # A refusal of a step the page no longer offers (someone else moved the excursion on): on top.
        "orphan_error": error if failed and failed not in steps else "",
        "signatures": signature_views(excursion),
        "username_required": user_name_required(request, request.user),
        "dispositions": Disposition.choices,
        "product_impacts": ProductImpact.choices,
        "assignees": _assignees(),
        "segregation": settings.SIGNATURE_SEGREGATION_OF_DUTIES,
        # What the user typed, back in the form that was refused (never the password).
        "failed": failed,
        "error": error,
        "typed": {k: v for k, v in request.POST.items() if k not in ("password", "csrfmiddlewaretoken")},
    }


def excursion_window(excursion: Excursion) -> tuple:
    """The excursion and some time around it: half its length each side, at least an hour, at most a
    day."""
    end = excursion.ended_at or timezone.now()
    margin = min(max((end - excursion.started_at) / 2, timedelta(hours=1)), timedelta(days=1))
    return excursion.started_at - margin, min(end + margin, max(timezone.now(), end))


def excursion_chart(excursion: Excursion) -> dict:
    """The excursion's channel around it, with the limits in force when it was found (rules change), the
    suppression windows shaded on it and, where the customer opted in, its values corrected by the
    calibration certificate in force (the excursion itself was found on the stored values)."""
    channel = excursion.channel
    start, end = excursion_window(excursion)
    gaps = selectors.gaps_between(channel.device, start, end)
    corrections = corrections_for(channel.device, [channel])
    raw = selectors.channel_series(channel, start, end, gaps)
    series = [corrections.apply(raw)]
    limits = SimpleNamespace(low_limit=excursion.low_limit, high_limit=excursion.high_limit)
    windows = windows_between(channel.device, [channel], start, end)
    figure = figures.device_chart(
        series,
        rules={channel.pk: limits},
        excursions=selectors.excursions_between([channel], start, end),
        gaps=gaps,
        zone=timezone.get_current_timezone(),
        start=start,
        end=end,
        windows=windows,
    )
    figure["layout"]["height"] = 360
    return {
        "figure_json": figures.figure_json(figure),
        "windows": windows,
        "corrected": corrections.used(raw),
    }


def _render_detail(request, excursion: Excursion, status: int = 200, failed: str = "", error: str = ""):
    records, sentences = excursion_trail(excursion)
    context = {
        "trail": records,
        "sentences": sentences,
        **excursion_chart(excursion),
        "lasted": excursion.duration or (timezone.now() - excursion.started_at),
        **_lifecycle_context(request, excursion, failed, error),
    }
    return render(request, "monitoring/excursion_detail.html", context, status=status)


@require_GET
@permission_required("monitoring.view_excursion", raise_exception=True)
def excursion_detail(request, pk: int):
    return _render_detail(request, _get_excursion(pk))


def _step(request, pk: int, name: str, action: Callable[[Excursion], object], done: str):
    """Run one step; a refusal comes back inside its form (the fragment for htmx, else the page)."""
    excursion = _get_excursion(pk)
    try:
        action(excursion)
    except SignatureLockedOut:
        return lockout_response(request)
    except ValidationError as exc:
        error = " ".join(exc.messages)
        excursion = _get_excursion(pk)
        if request.htmx:
            context = _lifecycle_context(request, excursion, name, error)
            return render(request, LIFECYCLE_TEMPLATE, context, status=400)
        return _render_detail(request, excursion, status=400, failed=name, error=error)
    messages.success(request, done)
    if request.htmx:
        return HttpResponseClientRedirect(reverse("excursion_detail", args=[pk]))
    return redirect("excursion_detail", pk=pk)


def _signed(request) -> dict:
    """The signature's components as typed, for the actions' keyword arguments."""
    return {"request": request, "username": request.POST.get("username", "")}


@sensitive_post_parameters("password")
@require_POST
@permission_required("monitoring.acknowledge_excursion", raise_exception=True)
def excursion_acknowledge(request, pk: int):
    post = request.POST
    return _step(
        request,
        pk,
        "acknowledge",
        lambda excursion: excursion_actions.excursion_acknowledge(
            excursion, request.user, post.get("comment", ""), post.get("password", ""), **_signed(request)
        ),
        "Excursion acknowledged and signed.",
    )


@require_POST
@permission_required("monitoring.acknowledge_excursion", raise_exception=True)
def excursion_investigate(request, pk: int):
    def assign(excursion):
        assignee = _assignees().filter(pk=request.POST.get("assignee") or None).first()
        excursion_actions.excursion_assign(excursion, request.user, assignee, request.POST.get("reason", ""))

    return _step(request, pk, "investigate", assign, "Investigation assigned.")


@sensitive_post_parameters("password")
@require_POST
@permission_required("monitoring.acknowledge_excursion", raise_exception=True)
def excursion_note(request, pk: int):
    post = request.POST
    return _step(
        request,
        pk,
        "note",
        lambda excursion: excursion_actions.excursion_add_note(
            excursion, request.user, post.get("note", ""), post.get("password", ""), **_signed(request)
        ),
        "Note added and signed.",
    )


@sensitive_post_parameters("password")
@require_POST
@permission_required("monitoring.close_excursion", raise_exception=True)
def excursion_close(request, pk: int):
    post = request.POST
    return _step(
        request,
        pk,
        "close",
        lambda excursion: excursion_actions.excursion_close(
            excursion,
            request.user,
            post.get("disposition", ""),
            post.get("root_cause", ""),
            post.get("password", ""),
            product_impact=post.get("product_impact", ""),
            **_signed(request),
        ),
        "Excursion closed and signed.",
    )


@sensitive_post_parameters("password")
@require_POST
@permission_required("monitoring.approve_excursion", raise_exception=True)
def excursion_approve(request, pk: int):
    post = request.POST
    return _step(
        request,
        pk,
        "approve",
        lambda excursion: excursion_actions.excursion_approve(
            excursion,
            request.user,
            post.get("password", ""),
            comment=post.get("comment", ""),
            **_signed(request),
        ),
        "Closing approved and signed.",
    )


@require_POST
@permission_required("monitoring.close_excursion", raise_exception=True)
def excursion_reopen(request, pk: int):
    def act(excursion):
        excursion_actions.excursion_reopen(excursion, request.user, request.POST.get("reason", ""))

    return _step(request, pk, "reopen", act, "Excursion reopened: it is under investigation again.")


@require_GET
@permission_required("monitoring.view_excursion", raise_exception=True)
def excursion_signatures_csv(request, pk: int):
    """The excursion's signatures: printed name, meaning, time (UTC, said so), content hash, check."""
    excursion = _get_excursion(pk)
    rows = signature_rows([excursion])
    response = StreamingHttpResponse(
        csv_lines(rows, SIGNATURE_COLUMNS), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="excursion-{excursion.pk}-signatures.csv"'
    return response
