"""Marché pages and dashboards in a real browser: the diagram with the current task marked, a
facilitator's hours entry moving the progress bar, a dashboard's chart, the committee pack in
print. One demo server for the module (camille.martin facilitates GPSEA; DEMO-2026-001 waits for
its calibration, DEMO-2026-005 is in execution).
"""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import expect

from tests.browser.conftest import login, screenshot
from workflows.values import add_months, first_of_month

FACILITATOR = "camille.martin"


def open_marche(page, reference: str) -> None:
    page.goto(f"/marches/?q={reference}")
    page.get_by_role("link", name=reference, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)


def test_diagram_marks_the_current_task_and_the_steps_done(page):
    login(page, FACILITATOR)
    page.get_by_role("link", name="Marchés", exact=True).click()
    expect(page.locator("#marches tbody tr")).to_have_count(5)
    screenshot(page, "marches-liste")
    open_marche(page, "DEMO-2026-001")
    expect(page.locator("#taches-en-cours")).to_contain_text("Calibrer les heures d'insertion")
    diagram = page.locator("#diagramme")
    expect(diagram).to_have_attribute("data-state", "ready")
    current = diagram.locator('g.djs-element[data-element-id="calibrer_heures"]')
    expect(current).to_have_class(re.compile(r"\bclz-current\b"))
    done = diagram.locator('g.djs-element[data-element-id="analyse_amont"]')
    expect(done).to_have_class(re.compile(r"\bclz-completed\b"))
    expect(diagram.locator("g.djs-connection.clz-completed").first).to_be_attached()
    diagram.scroll_into_view_if_needed()
    screenshot(page, "marche-diagramme")


def test_a_facilitator_enters_hours_and_sees_the_progress(page):
    login(page, FACILITATOR)
    open_marche(page, "DEMO-2026-005")
    # no task to do: the process waits on the timer of the next monthly report
    waiting = page.locator("#diagramme g.djs-shape.clz-current")
    expect(waiting).to_have_count(1)
    assert waiting.get_attribute("data-element-id") == "attente_rapport"
    before = page.locator("#avancement [role=progressbar]").get_attribute("aria-valuenow")
    page.get_by_role("link", name="Saisir des heures").click()
    expect(page.get_by_role("heading", name="Saisir des heures d'insertion")).to_be_visible()
    page.locator("#hours").fill("beaucoup")
    page.get_by_role("button", name="Enregistrer les heures").click()
    expect(page.locator("#probleme")).to_be_focused()
    expect(page.locator("[data-champ='route'] .fr-error-text")).to_contain_text("obligatoire")
    screenshot(page, "heures-erreurs")
    notified = add_months(first_of_month(date.today()), -5)
    page.locator("#beneficiary_id").select_option(index=1)  # Benali Karim, eligible
    page.locator("#hours").fill("12")
    page.locator("#route").select_option("embauche_directe")
    page.locator("#contract_type").select_option("cdd")
    page.locator("#contract_start").fill(notified.replace(day=2).isoformat())
    page.get_by_role("button", name="Enregistrer les heures").click()
    expect(page.locator(".fr-alert--success")).to_contain_text("12 h enregistrées")
    bar = page.locator("#avancement [role=progressbar]")
    assert float(bar.get_attribute("aria-valuenow")) == float(before) + 12
    expect(page.locator("#journal-liste")).to_contain_text("Relevé d'heures")
    page.locator("#avancement").scroll_into_view_if_needed()
    screenshot(page, "marche-avancement")


def test_dashboard_chart_and_the_committee_pack_in_print(page):
    login(page, FACILITATOR)
    page.get_by_role("link", name="Tableaux de bord", exact=True).click()
    chart = page.locator("svg[data-chart='graphique-objectifs']")
    expect(chart).to_be_visible()
    assert chart.locator("rect.clz-bar").count() >= 3
    expect(page.locator("#indicateurs")).to_contain_text("Heures d'insertion générées")
    screenshot(page, "tableau-de-bord")
    page.locator("#lien-comite").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Grand Paris Sud Est Avenir")
    page.emulate_media(media="print")
    expect(page.locator("header.fr-header")).to_be_hidden()
    expect(page.locator("#imprimer")).to_be_hidden()
    screenshot(page, "dossier-comite-impression")
