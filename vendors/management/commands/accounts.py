"""``manage.py accounts add|list|remove``: vendor accounts from the command line (never printing secrets)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import ProtectedError

from monitoring.audit import purge_allowed
from vendors.models import VendorAccount
from vendors.registry import SLUGS, client_class


def parse_credentials(vendor: str, items: list[str]) -> dict[str, str]:
    fields = client_class(vendor).credential_fields
    credentials: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"--credential expects key=value, got {key!r} without '='")
        if key not in fields:
            raise CommandError(f"unknown credential key {key!r} for {vendor}; expected: {', '.join(fields)}")
        credentials[key] = value
    missing = [f for f in fields if not credentials.get(f)]
    if missing:
        raise CommandError(
            f"missing credential(s) for {vendor}: {', '.join(missing)} (use --credential key=value)"
        )
    return credentials


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
        add.add_argument("--credential", action="append", default=[], metavar="KEY=VALUE")
        sub.add_parser("list", help="List vendor accounts and their health (no secrets).")
        remove = sub.add_parser("remove", help="Remove a vendor account and all its data.")
        remove.add_argument("name")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_add(self, *, vendor, name, base_url, timezone, response_format, credential, **_):
        account = VendorAccount(
            vendor=vendor,
            name=name,
            base_url=base_url.rstrip("/"),
            timezone=timezone,
            response_format=response_format,
            credentials=parse_credentials(vendor, credential),
        )
        try:
            account.full_clean()
        except ValidationError as exc:
            messages = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items())
            raise CommandError(messages) from None
        account.save()
        self.stdout.write(f"Added {vendor} account {name!r} (id {account.pk}).")

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
