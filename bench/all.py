"""Run every benchmark side by side and print the results table (called by `bench/run`).

    .venv/bin/python bench/all.py --postgres URL [--quick]

Each benchmark runs in its own process, one after the other, on the same machine and the same
PostgreSQL server; its whole output is echoed, its last line (`key=value …`) is parsed, and a
markdown table of every figure against its target is printed at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")

# (benchmark, key, label, target text, met?)
TARGETS = [
    ("engine", "bare_tps", "SpiffWorkflow seul, en mémoire (tâches/s)", "référence", None),
    ("engine", "sqlite_tps", "Moteur sur SQLite (tâches/s)", "≥ 0,5 × seul", None),
    ("engine", "ratio_sqlite", "Moteur SQLite / SpiffWorkflow seul", "≥ 0,5", lambda v: v >= 0.5),
    ("engine", "postgres_tps", "Moteur sur PostgreSQL (tâches/s)", "—", None),
    (
        "api",
        "tps_1client",
        "API HTTP, 1 client, 1 processus (tâches/s)",
        "≥ 200",
        lambda v: v >= 200,
    ),
    ("api", "p50_ms", "API HTTP, 1 client : p50 (ms)", "≤ 5", lambda v: v <= 5),
    ("api", "tps_4clients", "API HTTP, 4 clients, 1 processus (tâches/s)", "—", None),
    (
        "api",
        "inbox_p95_ms_100k",
        "Bac d'un acheteur à 100 000 instances : p95 (ms)",
        "≤ 50",
        lambda v: v <= 50,
    ),
    (
        "api",
        "inbox_ratio_100k_1k",
        "Bac : p95 à 100 000 / p95 à 1 000",
        "≤ 1,5",
        lambda v: v <= 1.5,
    ),
    (
        "api",
        "rss_mb",
        "Mémoire par processus web à 100 000 instances (Mo)",
        "≤ 300",
        lambda v: v <= 300,
    ),
    ("timers", "timer_lag_p99_s", "Minuteries : retard p99 (s)", "≤ 2", lambda v: v <= 2),
    (
        "timers",
        "timers_per_s",
        "Minuteries déclenchées par seconde (PostgreSQL)",
        "≥ 500",
        lambda v: v >= 500,
    ),
    ("timers", "mails_per_s", "Courriels remis par seconde (SMTP local)", "mesuré", None),
    (
        "domain",
        "indicators_s_pg",
        "Indicateurs sur 1 M d'heures, PostgreSQL (s)",
        "< 1",
        lambda v: v < 1,
    ),
    (
        "domain",
        "indicators_s_sqlite",
        "Indicateurs sur 1 M d'heures, SQLite (s)",
        "< 1",
        lambda v: v < 1,
    ),
    ("domain", "bilan_pdf_s", "Bilan PDF d'un marché (s)", "< 2", lambda v: v < 2),
]


def run(name: str, args: list[str]) -> dict[str, float]:
    print(f"\n===== {name}: {' '.join(args)}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, str(ROOT / "bench" / f"{name}.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    print(done.stdout + done.stderr, flush=True)
    print(f"===== {name}: {time.perf_counter() - started:.0f} s, code {done.returncode}")
    lines = [line for line in done.stdout.splitlines() if "=" in line]
    figures = {}
    for pair in (lines[-1] if lines else "").split():
        key, _, value = pair.partition("=")
        try:
            figures[key] = float(value)
        except ValueError:
            pass
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = parser.parse_args(argv)
    pg = ["--postgres", args.postgres]
    quick = args.quick
    results = {
        "engine": run("engine", [*pg, "--lifecycles", "5" if quick else "30"]),
        "api": run(
            "api",
            [
                *pg,
                "--marches",
                "8" if quick else "40",
                "--inbox-sizes",
                "1000,5000" if quick else "1000,10000,100000",
                "--workers",
                "1,2",
            ],
        ),
        "timers": run(
            "timers",
            [*pg, "--timers", "5000" if quick else "100000", "--mails", "500" if quick else "10000"]
            + (["--lag-seconds", "10"] if quick else []),
        ),
        "domain": run("domain", [*pg, "--records", "50000" if quick else "1000000"]),
    }
    print("\n| Mesure | Valeur | Cible | Atteinte |\n|---|---|---|---|")
    for bench, key, label, target, met in TARGETS:
        value = results[bench].get(key)
        shown = "—" if value is None else f"{value:g}"
        verdict = "" if met is None or value is None else ("oui" if met(value) else "**non**")
        print(f"| {label} | {shown} | {target} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
