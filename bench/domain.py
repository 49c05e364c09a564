"""Domain benchmark: territory indicators over 1 000 000 hours records, and a bilan PDF.

    .venv/bin/python bench/domain.py [--postgres URL] [--records 1000000] [--people 20000]

Data: one territory (and a second one, for the noise) with 400 marchés of 60 buyers, 20 000
beneficiaries with their criteria and outcomes, 1 000 000 hours records over 2018-2020 (5 % not
counted), bulk-inserted (COPY on PostgreSQL). Then `indicateurs.service.compute` for the territory
over 2018-2020, timed 5 times after one warm-up (median), and the PDF bilan of a marché with 500
hours records (SQLite, median of 5). Summary line last. Details: bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.schema import upgrade  # noqa: E402
from workflows.access import Actor  # noqa: E402
from workflows.beneficiaires.models import AGE_BANDS, Beneficiary, EligibilityCriterion  # noqa: E402
from workflows.bilans import exports as bilans  # noqa: E402
from workflows.engine.db import make_engine, make_session_factory  # noqa: E402
from workflows.execution.models import HoursRecord, Outcome  # noqa: E402
from workflows.indicateurs import service as indicateurs  # noqa: E402
from workflows.marches.models import Marche, MarcheHolder  # noqa: E402
from workflows.referentiel.models import Holder, Organisation, Territory  # noqa: E402

PG_SCHEMA = "clausier_bench_domain"
PERIOD = (date(2018, 1, 1), date(2020, 12, 31))
MONTHS = [date(2018 + m // 12, m % 12 + 1, 1) for m in range(36)]
NOW = datetime(2021, 1, 1, tzinfo=UTC)
ROUTES = ["embauche_directe", "etti", "geiq", "ai"]
KINDS = ["rsa", "deld", "jeune_peu_qualifie", "rqth", "senior", "ass"]
OUTCOMES = ["cdi", "cdd_6_mois_plus", "cdd_moins_6_mois", "interim", "recherche_emploi"]
HOURS_COLUMNS = (
    "id marche_id holder_id beneficiary_id month hours training_hours route contract_type "
    "contract_start counting_method counted created_at"
).split()
MARCHES, BUYERS, HOLDERS, BILAN_RECORDS = 400, 60, 50, 500


def reference_rows(people: int) -> dict:
    """Territories, buyers, holders, marchés, links, beneficiaries, criteria, outcomes."""
    rng = random.Random(7)
    rows: dict = {
        Territory: [
            {"id": 1, "code": "ESSONNE", "name": "Essonne"},
            {"id": 2, "code": "X", "name": "X"},
        ],
        Organisation: [
            {"id": i, "kind": "acheteur", "name": f"Acheteur {i:02d}"} for i in range(1, BUYERS + 1)
        ],
        Holder: [
            {"id": i, "siret": f"{i:014d}", "name": f"Titulaire {i}"} for i in range(1, HOLDERS + 1)
        ],
    }
    rows[Marche] = [
        {
            "id": i, "reference": f"B-{i:04d}", "subject": f"Opération {i}",
            "buyer_id": rng.randint(1, BUYERS), "territory_id": 1 if i <= 350 or i > MARCHES else 2,
            "nature": "travaux", "cpv_code": "45000000", "estimated_amount_ht": Decimal(10**6),
            "duration_months": 36, "disposition": "clause_insertion",
            "notification_date": rng.choice(MONTHS), "start_date": date(2018, 1, 1),
            "planned_end_date": date(2021, 1, 1), "created_at": NOW,
        }
        for i in range(1, MARCHES + 2)
    ]  # fmt: skip
    rows[MarcheHolder] = [
        {"id": i, "marche_id": i, "holder_id": (i % HOLDERS) + 1} for i in range(1, MARCHES + 2)
    ]
    rows[Beneficiary] = [
        {
            "id": i, "pseudonym": f"B-{i:08X}", "territory_id": 1, "sex": rng.choice("FHH"),
            "age_band": rng.choice(AGE_BANDS), "birth_year": 1980, "created_at": NOW,
        }
        for i in range(1, people + 1)
    ]  # fmt: skip
    rows[EligibilityCriterion] = [
        {"beneficiary_id": i, "kind": rng.choice(KINDS), "validated_on": date(2017, 6, 1)}
        for i in range(1, people + 1)
        for _ in range(rng.choice((1, 1, 2)))
    ]
    rows[Outcome] = [
        {
            "marche_id": rng.randint(1, MARCHES), "beneficiary_id": i,
            "contract_start": date(2019, 1, 1), "contract_end": date(2019, rng.randint(2, 12), 28),
            "kind": rng.choice(OUTCOMES), "recorded_at": NOW,
        }
        for i in range(1, people + 1)
    ]  # fmt: skip
    return rows


def hours_rows(records: int, people: int):
    """The hours records, as tuples in HOURS_COLUMNS order (the last marché gets 500)."""
    rng = random.Random(11)
    for i in range(1, records + 1):
        if i <= BILAN_RECORDS:
            marche, person = MARCHES + 1, 1 + i % 40
        else:
            marche, person = rng.randint(1, MARCHES), rng.randint(1, people)
        month = rng.choice(MONTHS)
        yield (
            i, marche, (marche % HOLDERS) + 1, person, month,
            Decimal(rng.randint(20, 151)), Decimal(0), rng.choice(ROUTES), "cdd", month,
            "heures_travaillees", rng.random() > 0.05, NOW,
        )  # fmt: skip


def load(engine, records: int, people: int) -> float:
    """Bulk-load the data set; returns the seconds it took."""
    began = time.perf_counter()
    with engine.begin() as conn:
        for model, rows in reference_rows(people).items():
            for chunk in range(0, len(rows), 20_000):
                conn.execute(insert(model), rows[chunk : chunk + 20_000])
        if engine.dialect.name == "postgresql":
            cursor = conn.connection.driver_connection.cursor()
            with cursor.copy(f"COPY hours_record ({', '.join(HOURS_COLUMNS)}) FROM STDIN") as copy:
                for row in hours_rows(records, people):
                    copy.write_row(row)
        else:
            sql = insert(HoursRecord.__table__)
            batch = []
            for row in hours_rows(records, people):
                batch.append(dict(zip(HOURS_COLUMNS, row, strict=True)))
                if len(batch) == 50_000:
                    conn.execute(sql, batch)
                    batch = []
            if batch:
                conn.execute(sql, batch)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    return time.perf_counter() - began


def timed(run, repeat: int = 5) -> float:
    """Median seconds of `repeat` runs after one warm-up."""
    run()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench(engine, records: int, people: int, *, bilan: bool) -> dict:
    loaded = load(engine, records, people)
    factory = make_session_factory(engine)
    actor = Actor(login="bench", role="facilitateur", territory_ids=frozenset({1}))
    result: dict = {"load_s": loaded}
    with factory() as session:
        args = {"period_start": PERIOD[0], "period_end": PERIOD[1], "territory_id": 1}

        def indicators():
            return indicateurs.compute(session=session, actor=actor, **args)

        result["indicators_s"] = timed(indicators)
        figures = indicators()
        result["hours"], result["people"] = figures.value("heures"), figures.value("beneficiaires")
        if bilan:
            pdf = []

            def export():
                pdf.append(bilans.export_bilan(
                    session=session, actor=actor, marche_id=MARCHES + 1, fmt="pdf"
                ))  # fmt: skip
                session.rollback()  # the access log lines of the detail

            result["bilan_pdf_s"] = timed(export)
            result["pdf_bytes"] = len(pdf[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help=f"PostgreSQL URL (schema {PG_SCHEMA} is recreated)")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=20_000)
    args = parser.parse_args(argv)
    if args.records < BILAN_RECORDS or args.people < 40:
        parser.error("--records ≥ 500 and --people ≥ 40")
    pg_url = args.postgres or next(
        (u for u in (os.environ.get(k) for k in ("DATABASE_URL", "CLAUSIER_TEST_POSTGRES_URL"))
         if u and u.startswith("postgres")), None,
    )  # fmt: skip
    print(f"data: {args.records} hours records, {args.people} beneficiaries, {MARCHES} marchés")
    results: dict[str, dict | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        results["sqlite"] = bench(engine, args.records, args.people, bilan=True)
        engine.dispose()
    if pg_url:
        admin = make_engine(pg_url)
        print(f"WARNING: dropping and recreating schema {PG_SCHEMA} in {admin.url.host}")
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        engine = make_engine(pg_url, connect_args={"options": f"-c search_path={PG_SCHEMA}"})
        try:
            upgrade(engine)
            results["postgres"] = bench(engine, args.records, args.people, bilan=False)
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            admin.dispose()
    else:
        results["postgres"] = None
        print("postgres: skipped (no --postgres URL, DATABASE_URL or CLAUSIER_TEST_POSTGRES_URL)")
    for name, r in results.items():
        if r:
            pdf = (
                f"  bilan PDF {r['bilan_pdf_s']:.3f} s ({r['pdf_bytes']} B)"
                if "pdf_bytes" in r
                else ""
            )
            print(
                f"{name:<9} load {r['load_s']:.1f} s  indicators {r['indicators_s']:.3f} s  "
                f"(heures {r['hours']}, bénéficiaires {r['people']}){pdf}"
            )
    pg = results["postgres"]
    print(
        f"indicators_s_pg={pg['indicators_s']:.3f}" if pg else "indicators_s_pg=na",
        f"indicators_s_sqlite={results['sqlite']['indicators_s']:.3f}",
        f"bilan_pdf_s={results['sqlite']['bilan_pdf_s']:.3f}",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
