from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

# The admin named for the product, not "Django administration".
admin.site.site_header = "Cold chain administration"
admin.site.site_title = "Cold chain admin"
admin.site.index_title = "Accounts, devices, rules and users"


@login_not_required
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says (a PDF, a JSON answer): our icon."""
    return redirect(static("img/favicon.svg"), permanent=True)


urlpatterns = [
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("", include("users.urls")),
    path("", include("monitoring.urls")),
]
