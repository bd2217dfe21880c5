"""Admin list filters typed into the URL: a value Django cannot use is a 400 with a message, not a 500.

The admin reads lookups such as ``?started_at__year=99999`` or ``?started_at__gte=99999-01-01`` straight
from the query string. Django turns some bad values into its "?e=1" redirect (and then a "Database error"
page); others, like a year past 9999, fail only when the query is run, as a ``ValueError`` or an
``OverflowError``, and end as a server error (and an email to the administrators). Here every registered
model admin, ours and the installed apps' (axes, celery beat), gets a change list that runs the page's
query while such an error can still be caught, and answers a bad filter with a 400 page that says so.
"""

from __future__ import annotations

import functools

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

_checked_classes: dict[type, type] = {}


class CheckedResultsMixin:
    """A ChangeList whose query is run inside ``get_results``, where Django expects bad lookups."""

    def get_results(self, request):
        try:
            super().get_results(request)
            # The rows are otherwise read in the template, after the last chance to call it a bad filter.
            self.result_list = list(self.result_list)
        except (ValueError, OverflowError, ValidationError) as exc:
            raise IncorrectLookupParameters(exc) from exc


def _checked(change_list_class: type) -> type:
    if change_list_class not in _checked_classes:
        _checked_classes[change_list_class] = type(
            f"Checked{change_list_class.__name__}", (CheckedResultsMixin, change_list_class), {}
        )
    return _checked_classes[change_list_class]


def bad_filter_response(model_admin, request: HttpRequest) -> HttpResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "This filter cannot be used",
        "opts": model_admin.model._meta,
        "list_url": request.path,
    }
    return TemplateResponse(request, "admin/bad_filter.html", context, status=400)


def _guard(model_admin) -> None:
    get_changelist = model_admin.get_changelist
    changelist_view = model_admin.changelist_view

    @functools.wraps(get_changelist)
    def checked_changelist(request, **kwargs):
        return _checked(get_changelist(request, **kwargs))

    @functools.wraps(changelist_view)
    def checked_view(request, extra_context=None):
        response = changelist_view(request, extra_context)
        # Django's answer to a bad lookup: a redirect to the bare list with ?e=1.
        if isinstance(response, HttpResponseRedirect) and response.url == f"{request.path}?{ERROR_FLAG}=1":
            return bad_filter_response(model_admin, request)
        return response

    model_admin.get_changelist = checked_changelist
    model_admin.changelist_view = checked_view


def refuse_bad_filters(site: admin.AdminSite = admin.site) -> None:
    """Give every model admin registered on ``site`` the checks above (call once, when apps are ready)."""
    for model_admin in site._registry.values():
        if not getattr(model_admin, "_bad_filters_refused", False):
            _guard(model_admin)
            model_admin._bad_filters_refused = True
