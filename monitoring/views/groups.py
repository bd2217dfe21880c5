"""Deployment groups: list, create, rename, delete, move devices. Thingsee groups change at the vendor
first (``vendors.operations``); a refusal is shown, never dropped."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from monitoring import selectors
from monitoring.forms import GroupForm, MoveDevicesForm
from monitoring.models import DeploymentGroup
from vendors.models import VendorAccount
from vendors.operations import (
    OperationRefused,
    devices_move,
    group_create,
    group_delete,
    group_rename,
)
from vendors.registry import slugs_that

CHANGE = "monitoring.change_deploymentgroup"


def _page(request, status: int = 200, **forms):
    context = {
        "groups": selectors.groups_with_counts(),
        "devices": selectors.listed(selectors.devices_for_groups()),
        "accounts": VendorAccount.objects.filter(vendor__in=slugs_that("keeps_groups")).order_by("name"),
        "create_form": forms.get("create_form") or GroupForm(),
        "move_form": forms.get("move_form"),
        "can_change": request.user.has_perm(CHANGE),
    }
    return render(request, "monitoring/groups.html", context, status=status)


@require_GET
def groups(request):
    return _page(request)


def _refused(request, message: str):
    messages.error(request, message)
    return redirect("groups")


@require_POST
@permission_required(CHANGE, raise_exception=True)
def group_new(request):
    form = GroupForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, create_form=form)
    try:
        group = group_create(
            form.cleaned_data["name"], account=form.cleaned_data["account"], user=request.user
        )
    except OperationRefused as exc:
        return _refused(request, str(exc))
    messages.success(request, f"Group {group.name!r} created.")
    return redirect("groups")


@require_POST
@permission_required(CHANGE, raise_exception=True)
def group_rename_view(request, pk: int):
    group = get_object_or_404(DeploymentGroup, pk=pk)
    form = GroupForm(request.POST)
    if not form.is_valid():
        return _refused(request, "A group needs a name.")
    old = group.name
    try:
        group_rename(group, form.cleaned_data["name"], user=request.user)
    except OperationRefused as exc:
        return _refused(request, str(exc))
    messages.success(request, f"Group {old!r} renamed to {group.name!r}.")
    return redirect("groups")


@require_POST
@permission_required(CHANGE, raise_exception=True)
def group_delete_view(request, pk: int):
    group = get_object_or_404(DeploymentGroup, pk=pk)
    name = group.name
    try:
        group_delete(group, user=request.user)
    except OperationRefused as exc:
        return _refused(request, str(exc))
    messages.success(request, f"Group {name!r} deleted; its devices are now in no group.")
    return redirect("groups")


@require_POST
@permission_required(CHANGE, raise_exception=True)
def devices_move_view(request):
    form = MoveDevicesForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, move_form=form)
    chosen = list(form.cleaned_data["devices"].select_related("account", "group"))
    target = form.cleaned_data["group"]
    refused = devices_move(chosen, target, user=request.user)
    moved = len(chosen) - len(refused)
    where = f"group {target.name!r}" if target else "no group"
    if moved:
        messages.success(request, f"{moved} device{'s' if moved != 1 else ''} moved to {where}.")
    for message in refused:
        messages.error(request, f"Not moved: {message}")
    return redirect("groups")
