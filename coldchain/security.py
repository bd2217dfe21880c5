"""Security pieces wired in by the settings: the client's address behind a proxy, the lockout page of
too many failed logins, and error reports (500 emails, the debug page) that never carry a secret.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote, quote_plus

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template import engines
from django.utils.cache import add_never_cache_headers
from django.utils.html import escape
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

SUBSTITUTE = "********************"
# Shorter values are too likely to be ordinary words or numbers to blank them everywhere in a report.
MIN_SECRET_LENGTH = 4
# Shorter secrets give base64 fragments of a few characters: too likely to occur by chance in other text.
MIN_BASE64_SECRET_LENGTH = 8


# -- The client's address ---------------------------------------------------------------------------


def client_ip_address(request: HttpRequest) -> str | None:
    """``REMOTE_ADDR``; behind ``TRUSTED_PROXY_COUNT`` proxies, the address the outermost of them saw.

    Each proxy appends the address it got the request from to X-Forwarded-For, so only the last
    ``TRUSTED_PROXY_COUNT`` entries are true: a client can write anything before them. Without a
    trusted proxy the header is ignored, so nobody escapes the login throttle by sending it.
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if not count:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote  # the request did not come through every proxy
    candidate = forwarded[-count]
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return remote
    return candidate


# -- Too many failed logins -------------------------------------------------------------------------

LOCKOUT_PAGE = """{% extends "base.html" %}
{% block title %}Too many failed logins{% endblock %}
{% block content %}
<section class="login">
  <h1>Too many failed logins</h1>
  <p class="error" role="alert">This user name, or your address, failed to log in (or to sign) {{ limit }}
  times. Try again in {{ minutes }} minutes, or ask an administrator to unlock it.</p>
</section>
{% endblock %}"""


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The page of a locked-out login (django-axes' ``AXES_LOCKOUT_CALLABLE``), or of a signer locked out
    by refused signatures: 429 with Retry-After."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    page = engines["django"].from_string(LOCKOUT_PAGE)
    context = {"limit": settings.AXES_FAILURE_LIMIT, "minutes": max(1, round(seconds / 60))}
    response = HttpResponse(page.render(context, request), status=429)
    response["Retry-After"] = str(seconds)
    if request.headers.get("HX-Request"):
        # Asked by htmx for a fragment (a refused signature on the Alerts page): show the page whole.
        response["HX-Retarget"] = "body"
        response["HX-Reswap"] = "innerHTML"
    return response


# -- Error reports without secrets ------------------------------------------------------------------

# Names of variables, dict keys, POST fields and settings whose values are never shown.
SECRET_NAMES = re.compile(
    r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE|CREDENTIAL|SESSION|HASH", flags=re.IGNORECASE
)


def _strings(value) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def known_secrets() -> set[str]:
    """Every secret the site holds: the vendor accounts' credentials and tokens, and the keys."""
    values = [settings.SECRET_KEY, *settings.CREDENTIALS_KEYS, settings.EMAIL_HOST_PASSWORD]
    try:
        from vendors.models import VendorAccount

        for credentials, session in VendorAccount.objects.values_list("credentials", "session"):
            values.extend(_strings(credentials))
            values.extend(_strings(session))
    except Exception:  # noqa: BLE001, S110 - a broken database must not stop the report: names still count
        pass
    return {value for value in values if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH}


def redact_known_secrets(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every secret blanked, in every spelling of ``secret_spellings``."""
    return redact_secrets(text, known_secrets() if secrets is None else secrets)


def redact_secrets(
    text: str, secrets: Iterable[str], *, users: Iterable[str] = (), substitute: str = SUBSTITUTE
) -> str:
    """``text`` with each of ``secrets`` blanked in every spelling (``secret_spellings``); ``users`` are
    the user names that go before a secret in HTTP Basic credentials."""
    users = tuple(sorted({user for user in users if user}))
    spellings = set()
    for secret in secrets:
        if secret:
            spellings |= secret_spellings(secret, users)
    # Longest first: a secret that holds another is blanked whole, not around the shorter one.
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, substitute)
    return text


@lru_cache(maxsize=512)
def secret_spellings(secret: str, users: tuple[str, ...] = ()) -> frozenset[str]:
    """Every way a secret comes back from a vendor that echoes what it got, or from our own pages: as
    typed, HTML-escaped, in a repr, URL- or form-encoded (upper- or lower-case hex, "/" kept or not, or
    encoded twice), JSON-escaped (also with "\\/" as PHP writes it), and in base64: alone, after
    ``user:`` as in HTTP Basic, and anywhere inside a longer base64 text.
    """
    spellings = {secret, escape(secret), repr(secret)[1:-1]}
    for safe in ("", "/"):
        for encoded in (quote(secret, safe=safe), quote_plus(secret, safe=safe)):
            spellings |= {encoded, _lower_hex(encoded), quote(encoded, safe=safe)}
    escaped = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    spellings |= escaped | {form.replace("/", "\\/") for form in escaped}
    raw = secret.encode("utf-8", "surrogatepass")
    for user in users:
        spellings |= _base64_spellings(f"{user}:".encode("utf-8", "surrogatepass") + raw)
    if len(raw) >= MIN_BASE64_SECRET_LENGTH:
        spellings |= _base64_spellings(raw) | _base64_inside(raw)
    return frozenset(spelling for spelling in spellings if spelling)


def _lower_hex(encoded: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda match: match.group().lower(), encoded)


def _base64_spellings(data: bytes) -> set[str]:
    # Without the "=" padding: the rest is a prefix of the padded text, however the padding is encoded.
    return {
        base64.b64encode(data).decode().rstrip("="),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
    }


def _base64_inside(raw: bytes) -> set[str]:
    """The base64 characters that ``raw`` alone decides, wherever it sits in a longer encoded text.

    base64 turns each 3 bytes into 4 characters, so what encodes ``raw`` depends only on where it starts
    modulo 3 and, at its two ends, on its neighbours. For each of the three starts, the characters
    that no neighbour touches are one spelling.
    """
    spellings = set()
    for shift, skip in ((0, 0), (1, 2), (2, 3)):
        data = b"\0" * shift + raw
        whole = 4 * (len(data) // 3)  # characters of complete 3-byte groups
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            spellings.add(encode(data).decode()[skip:whole])
    return spellings


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter hides settings by name, but shows every local variable and POST field: this one
    also hides those named like a secret (``credentials``, ``token``, ``new_credentials``...) and the
    values under such keys in dicts. ``SecretsExceptionReporter`` then blanks any known secret left.

    It works with DEBUG on as well: the demo runs in debug, and its error page is no place for a
    vendor's password either.
    """

    hidden_settings = SECRET_NAMES

    def is_active(self, request) -> bool:
        return True

    def cleanse(self, name, value):
        if isinstance(name, str) and SECRET_NAMES.search(name):
            return self.cleansed_substitute
        if isinstance(value, dict):
            return {key: self.cleanse(key, item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.cleanse("", item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.cleanse("", item) for item in value)
        return value

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self.cleanse(name, value)) for name, value in variables]

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if request is None or not any(SECRET_NAMES.search(name) for name in parameters):
            return parameters
        parameters = parameters.copy()
        for name in parameters:
            if SECRET_NAMES.search(name):
                parameters[name] = self.cleansed_substitute
        return parameters


class SecretsExceptionReporter(ExceptionReporter):
    """Error emails and debug pages with every known secret blanked, wherever it hid (an exception's
    message, a URL, an object's repr)."""

    def get_traceback_html(self) -> str:
        return redact_known_secrets(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return redact_known_secrets(super().get_traceback_text())


class NoStoreForLoggedInUsersMiddleware:
    """Every answer to a logged-in user carries ``Cache-Control: no-store`` (and ``private``), so that no
    browser cache, shared proxy or back button keeps readings, names or audit records after a logout
    on a shared workstation. After AuthenticationMiddleware; static files (WhiteNoise) never get here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "no-store" not in response.get("Cache-Control", ""):
            add_never_cache_headers(response)
        return response


OVERLONG_USER_NAME_PAGE = """{% extends "base.html" %}
{% block title %}User name too long{% endblock %}
{% block content %}
<section class="login">
  <h1>User name too long</h1>
  <p class="error" role="alert">A user name has at most {{ limit }} characters. Check what was typed and
  <a href="{% url 'login' %}">log in again</a>.</p>
</section>
{% endblock %}"""


class RefuseOverlongUserNamesMiddleware:
    """A posted user name longer than any user name can be (150 characters) is a 400 before any view.

    Django's login form does not check the length, and the login throttle (django-axes) stores what was
    typed in a 255-character column: a longer name was a database error, a 500 and an email to the
    administrators for anyone to cause. Before the throttle, so that nothing of it is stored."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST":
            limit = user_name_limit()
            field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
            if len(request.POST.get(field, "")) > limit:
                page = engines["django"].from_string(OVERLONG_USER_NAME_PAGE)
                return HttpResponseBadRequest(page.render({"limit": limit}, request))
        return self.get_response(request)


def user_name_limit() -> int:
    user_model = get_user_model()
    return user_model._meta.get_field(user_model.USERNAME_FIELD).max_length or 150


class RefuseNullCharactersMiddleware:
    """A NUL character in a query or form value is never meant: answer 400 before any view (PostgreSQL
    refuses it in text, so it would otherwise surface as a server error wherever a value meets a query)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for values in (request.GET, request.POST) if request.method == "POST" else (request.GET,):
            for key, items in values.lists():
                if "\x00" in key or any("\x00" in item for item in items):
                    return HttpResponseBadRequest("Bad request: a value holds a NUL character.")
        return self.get_response(request)
