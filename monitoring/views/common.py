"""What the views share: the fragment-or-page choice and the "bad input" answer."""

from __future__ import annotations

from django.shortcuts import render


def page_or_fragment(request, template: str, fragment: str) -> str:
    """The whole page, or only ``fragment`` when htmx asks (a refresh or a filter swap)."""
    if request.htmx and not request.htmx.boosted:
        return f"{template}#{fragment}"
    return template


def problem(request, message: str, status: int = 400):
    """A clear message and a 4xx, as a page or as a fragment for htmx."""
    template = "monitoring/_problem.html" if request.htmx else "monitoring/problem.html"
    return render(request, template, {"message": message}, status=status)


def form_errors(form) -> str:
    messages = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields and field != "__all__" else ""
        for error in errors:
            messages.append(f"{label}: {error}" if label else str(error))
    return " ".join(messages)
