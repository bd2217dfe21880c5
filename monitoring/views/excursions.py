"""Excursion pages: the detail with its signatures and audit trail, acknowledge and close (electronic
signatures). The excursion report: ``monitoring.views.reports``."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from coldchain.security import lockout_response
from monitoring import excursion_actions, figures, selectors
from monitoring.audit_sentences import excursion_trail
from monitoring.models import Excursion
from monitoring.models.excursions import Disposition
from monitoring.signatures import SignatureLockedOut


def _get_excursion(pk: int) -> Excursion:
    queryset = Excursion.objects.select_related(
        "channel__device__group", "rule", "acknowledged_by", "closed_by"
    ).prefetch_related("signatures")
    return get_object_or_404(queryset, pk=pk)


def excursion_window(excursion: Excursion) -> tuple:
    """The excursion and some time around it: half its length each side, at least an hour, at most a
    day."""
    end = excursion.ended_at or timezone.now()
    margin = min(max((end - excursion.started_at) / 2, timedelta(hours=1)), timedelta(days=1))
    return excursion.started_at - margin, min(end + margin, max(timezone.now(), end))


def excursion_chart(excursion: Excursion) -> str:
    """The excursion's channel around it, with the limits in force when it was found (rules change)."""
    channel = excursion.channel
    start, end = excursion_window(excursion)
    gaps = selectors.gaps_between(channel.device, start, end)
    series = [selectors.channel_series(channel, start, end, gaps)]
    limits = SimpleNamespace(low_limit=excursion.low_limit, high_limit=excursion.high_limit)
    figure = figures.device_chart(
        series,
        rules={channel.pk: limits},
        excursions=selectors.excursions_between([channel], start, end),
        gaps=gaps,
        zone=timezone.get_current_timezone(),
        start=start,
        end=end,
    )
    figure.update_layout(height=360)
    return figures.figure_json(figure)


def _render_detail(request, excursion: Excursion, status: int = 200):
    records, sentences = excursion_trail(excursion)
    context = {
        "excursion": excursion,
        "trail": records,
        "sentences": sentences,
        "dispositions": Disposition.choices,
        "figure_json": excursion_chart(excursion),
        "lasted": excursion.duration or (timezone.now() - excursion.started_at),
    }
    return render(request, "monitoring/excursion_detail.html", context, status=status)


@require_GET
@permission_required("monitoring.view_excursion", raise_exception=True)
def excursion_detail(request, pk: int):
    return _render_detail(request, _get_excursion(pk))


@require_POST
@permission_required("monitoring.acknowledge_excursion", raise_exception=True)
def excursion_acknowledge(request, pk: int):
    excursion = _get_excursion(pk)
    try:
        excursion_actions.excursion_acknowledge(
            excursion,
            request.user,
            request.POST.get("comment", ""),
            request.POST.get("password", ""),
            request=request,
        )
    except SignatureLockedOut:
        return lockout_response(request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _render_detail(request, excursion, status=400)
    messages.success(request, "Excursion acknowledged and signed.")
    return redirect("excursion_detail", pk=pk)


@require_POST
@permission_required("monitoring.close_excursion", raise_exception=True)
def excursion_close(request, pk: int):
    excursion = _get_excursion(pk)
    try:
        excursion_actions.excursion_close(
            excursion,
            request.user,
            request.POST.get("disposition", ""),
            request.POST.get("root_cause", ""),
            request.POST.get("password", ""),
            request=request,
        )
    except SignatureLockedOut:
        return lockout_response(request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _render_detail(request, excursion, status=400)
    messages.success(request, "Excursion closed and signed.")
    return redirect("excursion_detail", pk=pk)
