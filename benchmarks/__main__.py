"""``python -m benchmarks [name ...]``: run the benchmarks and print their figures."""

from __future__ import annotations

import importlib
import os
import sys
import time

BENCHMARKS = [
    "sync",
    "excursions",
    "dashboard",
    "overview",
    "partitions",
    "load",
    "overview_load",
    "audit_trail",
]


def main(argv: list[str]) -> int:
    os.environ.setdefault("DATABASE_URL", "postgres://root@127.0.0.1:5432/test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coldchain.settings")
    os.environ.setdefault("COLDCHAIN_TESTING", "1")
    import django
    from django.test.utils import setup_databases, teardown_databases

    django.setup()
    names = argv or BENCHMARKS
    failures = 0
    config = setup_databases(verbosity=0, interactive=False)
    try:
        for name in names:
            try:
                module = importlib.import_module(f"benchmarks.{name}")
            except ModuleNotFoundError:
                print(f"\n== {name}: not written yet")
                continue
            print(f"\n== {name}: {module.__doc__.strip().splitlines()[0]}", flush=True)
            started = time.perf_counter()
            figures = module.run()
            for key, value in figures.items():
                shown = (
                    f"{value:,.3f}"
                    if isinstance(value, float)
                    else f"{value:,}"
                    if isinstance(value, int)
                    else value
                )
                print(f"   {key:<55} {shown}")
            if figures.get("goal met") is False:
                failures += 1
            print(f"   ({time.perf_counter() - started:.1f} s)")
    finally:
        teardown_databases(config, verbosity=0)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
