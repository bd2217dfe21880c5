"""The pages read from a streaming replica of the database, when one is configured.

``DATABASE_REPLICA_URL`` names a read-only replica (PostgreSQL streaming replication, or a managed
"read replica"). It takes the load of the pages off the primary; everything else stays there.

Who reads where:

- **The replica**: the read queries of the pages (views of ``monitoring.views``) on GET and HEAD, for
  the data of the ``monitoring`` and ``vendors`` apps: devices, readings, excursions, accounts.
- **The primary**, always: every write; the sync, the excursion engine, Celery tasks and management
  commands (they run outside any page, so nothing sends them to the replica); the admin and the login
  page; sessions, users and login throttling, also on a page (a replica a few seconds behind must never
  log a user out); anything inside a transaction on the primary.
- **The primary for a short time after a write**: a POST (an acknowledgement, a sync started by hand,
  a group renamed) sets a cookie that sends the user's reads to the primary for
  ``REPLICA_PIN_SECONDS`` (longer than the replica's usual lag), so the page shown after the redirect
  shows what was just written. The cookie and the per-thread pin come from ``django-multidb-router``
  (``multidb``: its ``PinningRouterMiddleware`` and ``use_primary_db``), a small, long-lived library of
  exactly this pattern; this module adds what it leaves out: which requests are pages, and what to do
  when the replica is down or behind.

A replica that is down or behind never breaks a page:

- whether it can be reached is checked with a short connection timeout, at most every
  ``CHECK_SECONDS`` per process; while it cannot, the pages read the primary;
- a page that fails on the replica anyway (it went down since the last check) is read again from the
  primary, and so is a page that finds no such object there (a link in an excursion email sent a second
  ago, to an excursion the replica has not received yet).

In the test process the replica alias is only a test mirror of the test database (Django makes no test
database on a replica): a second connection that cannot see a test's uncommitted rows. The settings then
install neither the router nor the middleware, so the suite is the same with or without
``DATABASE_REPLICA_URL``; ``tests/test_read_replica.py`` runs the server against a real replica.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time

from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.http import Http404
from multidb import PinningReplicaRouter
from multidb.pinning import this_thread_is_pinned

logger = logging.getLogger("coldchain.read_replica")

REPLICA = "replica"
# The data the pages show. Sessions, users and login throttling (auth, sessions, axes) stay on the primary.
PAGE_DATA_APPS = frozenset({"monitoring", "vendors"})
PAGE_VIEWS = "monitoring.views."
SAFE_METHODS = frozenset({"GET", "HEAD"})
# How long one check of the replica is trusted, in seconds (up or down).
CHECK_SECONDS = 5.0

# True while a page's view runs and may read from the replica.
_reading_a_page: contextvars.ContextVar[bool] = contextvars.ContextVar("reading_a_page", default=False)


class PagesReadReplicaRouter(PinningReplicaRouter):
    """Writes, migrations and everything outside a page on the primary (as ``multidb``'s router does);
    the reads of a page on the replica while it can be reached."""

    def db_for_read(self, model, **hints) -> str:
        if (
            _reading_a_page.get()
            and model._meta.app_label in PAGE_DATA_APPS
            and not this_thread_is_pinned()
            # A read inside a transaction on the primary must see that transaction.
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
            and replica_is_reachable()
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS


class ReadPagesFromReplicaMiddleware:
    """Marks the views of the pages (GET and HEAD, not pinned to the primary) as reading the replica, and
    reads a page again from the primary when the replica fails it.

    After ``multidb.middleware.PinningRouterMiddleware``, which pins a request to the primary after a
    write (cookie) and for any POST."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _reading_a_page.set(False)
        try:
            return self.get_response(request)
        finally:
            _reading_a_page.reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if (
            request.method in SAFE_METHODS
            and getattr(view_func, "__module__", "").startswith(PAGE_VIEWS)
            and not this_thread_is_pinned()
        ):
            _reading_a_page.set(True)
        return None

    def process_exception(self, request, exception):
        if not _reading_a_page.get() or not isinstance(exception, Http404 | DatabaseError):
            return None
        if isinstance(exception, Http404) and not _last_check["reachable"]:
            return None  # it was read from the primary already
        if isinstance(exception, OperationalError | InterfaceError):
            logger.warning(
                "The read replica failed a page (%s): pages read the primary", type(exception).__name__
            )
            _remember(reachable=False)
        # A GET view changes nothing: running it again, on the primary, is safe. Its exception, if it
        # raises again, is handled as any other view's.
        _reading_a_page.set(False)
        match = request.resolver_match
        return match.func(request, *match.args, **match.kwargs)


# -- Can the replica be reached? ----------------------------------------------------------------------

_check_lock = threading.Lock()
_last_check = {"at": float("-inf"), "reachable": False}


def replica_is_reachable() -> bool:
    """Whether the replica answered a connection lately (checked at most every ``CHECK_SECONDS``).

    One thread checks at a time; the others meanwhile use the last answer, so a replica that takes its
    whole connection timeout to fail never holds more than one request of a process."""
    if time.monotonic() - _last_check["at"] < CHECK_SECONDS:
        return _last_check["reachable"]
    if not _check_lock.acquire(blocking=False):
        return _last_check["reachable"]
    try:
        reachable = _connects(REPLICA)
        if reachable != _last_check["reachable"]:
            if reachable:
                logger.info("The read replica can be reached: the pages read from it")
            else:
                logger.warning("The read replica cannot be reached: the pages read the primary")
        _remember(reachable)
    finally:
        _check_lock.release()
    return reachable


def _remember(reachable: bool) -> None:
    _last_check.update(at=time.monotonic(), reachable=reachable)


def _connects(alias: str) -> bool:
    import psycopg

    wrapper = connections[alias]
    try:
        # The replica's own connection settings, with its short connect_timeout (settings.py).
        with psycopg.connect(**wrapper.get_connection_params()) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


__all__ = ["PagesReadReplicaRouter", "ReadPagesFromReplicaMiddleware", "replica_is_reachable"]
