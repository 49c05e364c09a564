"""Whole journeys in a real browser, on one demo server for the module.

The buyer registers a marché through the form (an error first, then fixed) and does its first
task, the upstream analysis. The facilitator calibrates the insertion hours of a marché the buyer
drove to that step (disposition: an insertion clause), then enters a month of hours on a marché
in execution and sees the progress move.
"""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import expect

from tests.browser.conftest import login, screenshot
from workflows.values import add_months, first_of_month

BUYER = "acheteur.gpsea"
FACILITATOR = "camille.martin"
ANALYSIS = "Analyse amont : enregistrer le projet d'achat"
DISPOSITION = "Choisir la disposition sociale"
CALIBRATION = "Calibrer les heures d'insertion"


def fill_marche(page, reference: str, amount: str) -> None:
    page.locator("#reference").fill(reference)
    page.locator("#subject").fill("Réfection de la voirie du quartier du Mont-Mesly")
    page.locator("#nature").select_option("travaux")
    page.locator("#cpv_code").fill("45233140-2")
    page.locator("#estimated_amount_ht").fill(amount)
    page.locator("#duration_months").fill("18")
    page.locator("#place_of_execution").fill("Créteil")


def register(page, reference: str) -> None:
    """As the signed-in buyer: the new marché's form, filled right, sent."""
    page.goto("/marches/")
    page.locator("#nouveau-marche").click()
    fill_marche(page, reference, "480 000")
    page.get_by_role("button", name="Enregistrer le marché").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)


def open_group_task(page, reference: str, name: str) -> None:
    """From the inbox, the task `name` of the marché, offered to the user's group."""
    page.goto("/")
    page.locator("[data-onglet='mes-groupes']").click()
    row = page.locator("#taches tbody tr", has_text=reference).filter(has_text=name)
    row.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.locator(".clz-context")).to_contain_text(reference)


def complete(page, name: str) -> None:
    page.get_by_role("button", name="Terminer").click()
    page.wait_for_url(re.compile(r"/(\?.*)?$"))
    expect(page.locator(".fr-alert--success")).to_contain_text(f"« {name} » terminée")


def test_a_buyer_registers_a_marche_then_does_its_upstream_analysis(page):
    reference = "GPSEA-2026-101"
    login(page, BUYER)
    page.get_by_role("link", name="Marchés", exact=True).click()
    page.locator("#nouveau-marche").click()
    expect(page.get_by_role("heading", name="Enregistrer un marché")).to_be_visible()
    expect(page.locator("[data-champ='buyer_id']")).to_contain_text("Grand Paris Sud Est Avenir")
    fill_marche(page, reference, "beaucoup")
    page.get_by_role("button", name="Enregistrer le marché").click()
    expect(page.locator("#probleme")).to_be_focused()
    amount = page.locator("[data-champ='estimated_amount_ht']")
    expect(amount).to_have_class(re.compile("fr-input-group--error"))
    expect(amount.locator(".fr-error-text")).to_contain_text("un nombre est attendu")
    expect(page.locator("#reference")).to_have_value(reference)
    screenshot(page, "marche-nouveau-erreurs")

    page.locator("#estimated_amount_ht").fill("480 000")
    page.get_by_role("button", name="Enregistrer le marché").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    expect(page.locator(".fr-alert--success")).to_contain_text(f"Marché {reference} enregistré")
    expect(page.locator("#taches-en-cours")).to_contain_text(ANALYSIS)
    screenshot(page, "marche-nouveau")

    page.get_by_role("link", name="Tâches", exact=True).click()
    open_group_task(page, reference, ANALYSIS)
    expect(page.locator("#objet")).to_have_value(
        "Réfection de la voirie du quartier du Mont-Mesly"
    )  # the form comes filled from the marché
    expect(page.locator("#code_cpv")).to_have_value("45233140")
    screenshot(page, "analyse-amont")
    complete(page, ANALYSIS)
    screenshot(page, "bac-apres-analyse-amont")


def test_a_facilitator_calibrates_the_hours_then_enters_a_month(page):
    reference = "GPSEA-2026-102"
    login(page, BUYER)
    register(page, reference)
    open_group_task(page, reference, ANALYSIS)
    complete(page, ANALYSIS)
    open_group_task(page, reference, DISPOSITION)
    page.locator("#disposition").select_option("clause_insertion")
    page.locator("#justification_disposition").fill("Chantier de voirie, main-d'œuvre locale.")
    complete(page, DISPOSITION)
    page.goto("/deconnexion")

    login(page, FACILITATOR)
    open_group_task(page, reference, CALIBRATION)
    calculated = page.locator("[data-champ='heures_calculees']")
    expect(calculated).to_contain_text(re.compile(r"\d"))
    expect(page.locator("[data-champ='taux_insertion']")).to_contain_text("0,05")
    page.locator("#heures_retenues").fill("900")
    page.locator("#justification_calibrage").fill("Technicité du chantier : objectif réaliste.")
    screenshot(page, "calibrage")
    complete(page, CALIBRATION)
    screenshot(page, "bac-apres-calibrage")
    page.goto(f"/marches/?q={reference}")
    page.get_by_role("link", name=reference, exact=True).click()
    expect(page.locator("#taches-en-cours")).to_contain_text("Valider le calibrage")

    # a month of hours on the marché in execution, and its progress bar
    page.goto("/marches/?q=DEMO-2026-005")
    page.get_by_role("link", name="DEMO-2026-005", exact=True).click()
    bar = page.locator("#avancement [role=progressbar]")
    before = float(bar.get_attribute("aria-valuenow"))
    page.get_by_role("link", name="Saisir des heures").click()
    notified = add_months(first_of_month(date.today()), -5)
    page.locator("#beneficiary_id").select_option(index=1)  # Benali Karim, eligible
    page.locator("#hours").fill("12")
    page.locator("#route").select_option("embauche_directe")
    page.locator("#contract_type").select_option("cdd")
    page.locator("#contract_start").fill(notified.replace(day=2).isoformat())
    page.get_by_role("button", name="Enregistrer les heures").click()
    expect(page.locator(".fr-alert--success")).to_contain_text("12 h enregistrées")
    assert float(bar.get_attribute("aria-valuenow")) == before + 12
    page.locator("#avancement").scroll_into_view_if_needed()
    screenshot(page, "parcours-facilitateur-avancement")
