#!/usr/bin/env python
import contextlib
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coldchain.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 (reads the settings now, to report a bad variable clearly)
    except ImproperlyConfigured as exc:
        sys.exit(f"Configuration error: {exc}")
    from django.core.management import execute_from_command_line

    with embedded_database(settings.EMBEDDED_DATABASE_DIR):
        execute_from_command_line(sys.argv)


@contextlib.contextmanager
def embedded_database(data_dir):
    """With no DATABASE_URL, the embedded PostgreSQL runs for the command (coldchain/embedded_database.py).

    DATABASE_URL is then set to it, so that the processes the command starts (the demo's web server,
    worker and beat) use this server and start none of their own.
    """
    if data_dir is None:
        yield
        return
    from coldchain import embedded_database

    if not (data_dir / "PG_VERSION").exists():
        print(f"Creating the embedded PostgreSQL's data folder {data_dir} (once)", file=sys.stderr)
    try:
        with embedded_database.running(data_dir) as server:
            os.environ["DATABASE_URL"] = server.url
            yield
    except embedded_database.EmbeddedDatabaseError as exc:
        sys.exit(f"Embedded PostgreSQL: {exc}")


if __name__ == "__main__":
    main()
