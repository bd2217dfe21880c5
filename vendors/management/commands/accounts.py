"""``manage.py accounts add|list|remove``: vendor accounts from the command line (never printing secrets)."""

from __future__ import annotations

import getpass
import os
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import ProtectedError

from monitoring.models.audit import purge_allowed
from vendors.models import VendorAccount
from vendors.registry import SLUGS, client_class

COMMAND_LINE_WARNING = (
    "warning: a secret given with --credential is visible to every user of this machine (process list) "
    "and kept in the shell history; prefer --credentials-stdin, --credential-env KEY=VARIABLE, or leave "
    "the secret out to be asked for it"
)


def parse_pairs(items: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"{option} expects key=value, got {key!r} without '='")
        pairs[key.strip()] = value
    return pairs


def check_credentials(vendor: str, credentials: dict[str, str]) -> None:
    fields = client_class(vendor).credential_fields
    for key in credentials:
        if key not in fields:
            raise CommandError(f"unknown credential key {key!r} for {vendor}; expected: {', '.join(fields)}")
    missing = [f for f in fields if not credentials.get(f)]
    if missing:
        raise CommandError(
            f"missing credential(s) for {vendor}: {', '.join(missing)} (use --credentials-stdin, "
            "--credential-env key=VARIABLE or --credential key=value)"
        )


def from_environment(items: list[str]) -> dict[str, str]:
    """``key=VARIABLE`` items: each credential read from the environment variable named."""
    values = {}
    for key, variable in parse_pairs(items, "--credential-env").items():
        if not variable or variable not in os.environ:
            raise CommandError(f"--credential-env {key}={variable}: the variable {variable!r} is not set")
        values[key] = os.environ[variable]
    return values


def from_standard_input() -> dict[str, str]:
    """One key=value a line on standard input (blank lines skipped)."""
    lines = [line.strip() for line in sys.stdin.read().splitlines()]
    return parse_pairs([line for line in lines if line], "--credentials-stdin (each line)")


def interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, OSError, ValueError):
        return False


class Command(BaseCommand):
    help = "Add, list or remove vendor accounts."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Add a vendor account.")
        add.add_argument("--vendor", required=True, choices=SLUGS)
        add.add_argument("--name", required=True)
        add.add_argument("--base-url", default="")
        add.add_argument("--timezone", default="UTC")
        add.add_argument("--format", dest="response_format", default="", choices=["", "json", "xml"])
        add.add_argument(
            "--credential",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a credential on the command line (visible in the process list: prefer the options below)",
        )
        add.add_argument(
            "--credential-env",
            action="append",
            default=[],
            metavar="KEY=VARIABLE",
            help="a credential read from the environment variable VARIABLE",
        )
        add.add_argument(
            "--credentials-stdin",
            action="store_true",
            help="read the credentials from standard input, one key=value a line",
        )
        sub.add_parser("list", help="List vendor accounts and their health (no secrets).")
        remove = sub.add_parser("remove", help="Remove a vendor account and all its data.")
        remove.add_argument("name")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_add(
        self,
        *,
        vendor,
        name,
        base_url,
        timezone,
        response_format,
        credential,
        credential_env,
        credentials_stdin,
        **_,
    ):
        account = VendorAccount(
            vendor=vendor,
            name=name,
            base_url=base_url.rstrip("/"),
            timezone=timezone,
            response_format=response_format,
            credentials=self.credentials(vendor, credential, credential_env, credentials_stdin),
        )
        try:
            account.full_clean()
        except ValidationError as exc:
            messages = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items())
            raise CommandError(messages) from None
        account.save()
        self.stdout.write(f"Added {vendor} account {name!r} (id {account.pk}).")

    def credentials(self, vendor: str, given: list[str], from_env: list[str], stdin: bool) -> dict[str, str]:
        """From the command line (still accepted: scripts rely on it, with a warning), the environment,
        standard input, then a prompt (without echo) for whatever is still missing on a terminal."""
        credentials: dict[str, str] = {}
        if given:
            self.stderr.write(COMMAND_LINE_WARNING)
            credentials.update(parse_pairs(given, "--credential"))
        credentials.update(from_environment(from_env))
        if stdin:
            credentials.update(from_standard_input())
        elif interactive():
            for key in client_class(vendor).credential_fields:
                if not credentials.get(key):
                    credentials[key] = getpass.getpass(f"{vendor} {key}: ")
        check_credentials(vendor, credentials)
        return credentials

    def handle_list(self, **_):
        accounts = VendorAccount.objects.all()
        if not accounts:
            self.stdout.write("No vendor accounts.")
            return
        for a in accounts:
            last = a.last_success_at.isoformat(timespec="seconds") if a.last_success_at else "never"
            keys = ",".join(sorted(a.credentials)) or "-"
            self.stdout.write(
                f"{a.name}\t{a.vendor}\t{a.base_url or '(default)'}\t{a.timezone}\t"
                f"{'enabled' if a.enabled else 'disabled'}\t{a.health}\t"
                f"last success: {last}\tcredentials: {keys}"
            )

    def handle_remove(self, *, name, **_):
        account = VendorAccount.objects.filter(name=name).first()
        if account is None:
            raise CommandError(f"no account named {name!r}")
        # Readings are permanent records: removing an account with its data is an explicit purge. Excursions
        # are QA records (signed, audited): an account that has any is disabled, never removed.
        try:
            with purge_allowed():
                account.delete()
        except ProtectedError:
            raise CommandError(
                f"{name!r} has excursions, which are kept as QA records: disable the account instead "
                "(admin, or set enabled off)"
            ) from None
        self.stdout.write(f"Removed account {name!r}.")
