from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.http import require_GET

# The admin named for the product, not "Django administration".
admin.site.site_header = "Cold chain administration"
admin.site.site_title = "Cold chain admin"
admin.site.index_title = "Accounts, devices, rules and users"


@login_not_required
@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says (a PDF, a JSON answer): our icon."""
    # Not permanent: the static file's name changes with its content (hashed in production).
    return redirect(static("img/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("", include("users.urls")),
    path("", include("monitoring.urls")),
    path("", include("alarms.urls")),
]
