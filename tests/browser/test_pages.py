"""The main pages in a real browser: login, inbox tabs and claim, the task form, English.

One server for the module: the tests run in order on the same demo data (acheteur.gpsea has two
tasks offered to the buyers' group: "Rédiger et lancer la consultation" and "Enregistrer la
notification").
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import login, screenshot

BUYER = "acheteur.gpsea"
NOTIFICATION = "Enregistrer la notification"
HOLDER = "Routes et Réseaux du Val (SIRET 512 345 678 00019)"


def count(page, tab: str) -> int:
    return int(page.locator(f"[data-onglet='{tab}'] .clz-count").get_attribute("data-count"))


def test_login_form_is_keyboard_usable_with_a_visible_focus(page):
    page.goto("/connexion")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    screenshot(page, "connexion")
    for _ in range(12):  # skip links, header links, then the form
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "login":
            break
    assert page.evaluate("document.activeElement.id") == "login"
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth, s.outlineColor]; })()"
    )
    assert outline[0] != "none" and outline[1] != "0px", outline
    page.keyboard.type(BUYER)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"


def test_inbox_tabs_count_and_a_task_is_claimed(page):
    login(page, BUYER)
    expect(page.get_by_role("heading", name="Tâches", exact=True)).to_be_visible()
    assert count(page, "mes-groupes") == 2
    assert count(page, "mes-taches") == 0
    screenshot(page, "bac-de-taches")
    page.set_viewport_size({"width": 768, "height": 1024})  # a tablet, upright
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "bac-de-taches-tablette")
    page.set_viewport_size({"width": 1280, "height": 900})
    row = page.locator("#taches tbody tr", has_text=NOTIFICATION)
    expect(row).to_contain_text("DEMO-2026-003")
    expect(row).to_contain_text(re.compile(r"dans \d+ jours? ouvrés?"))
    row.get_by_role("button", name="Prendre").click()
    expect(page.locator(".fr-alert--success")).to_contain_text("prise")
    assert count(page, "mes-taches") == 1
    page.get_by_role("link", name=re.compile("Mes tâches")).click()
    expect(page.locator("#taches tbody tr")).to_have_count(1)
    expect(page.locator("#taches tbody tr")).to_contain_text(BUYER)


def test_task_form_shows_errors_inline_keeps_a_draft_then_completes(page):
    login(page, BUYER)
    page.goto("/?onglet=mes-taches")
    page.get_by_role("link", name=NOTIFICATION).click()
    expect(page.get_by_role("heading", name=NOTIFICATION)).to_be_visible()
    expect(page.locator(".clz-context")).to_contain_text("DEMO-2026-003")
    page.get_by_label("Titulaire(s)").fill(HOLDER)
    page.get_by_label("Montant notifié HT").fill("beaucoup")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(page.locator(".fr-alert--success")).to_contain_text("Brouillon enregistré")
    expect(page.get_by_label("Titulaire(s)")).to_have_value(HOLDER)

    page.get_by_role("button", name="Terminer").click()
    date_field = page.locator("[data-champ='date_notification']")
    expect(date_field).to_have_class(re.compile("fr-input-group--error"))
    expect(date_field.locator(".fr-error-text")).to_contain_text("obligatoire")
    amount = page.locator("[data-champ='montant_final_ht']")
    expect(amount.locator(".fr-error-text")).to_contain_text("nombre")
    expect(page.get_by_label("Titulaire(s)")).to_have_value(HOLDER)
    expect(page.locator("#probleme")).to_be_focused()
    screenshot(page, "tache-erreurs")

    page.get_by_label("Date de notification").fill("2026-11-02")
    page.get_by_label("Montant notifié HT").fill("265000")
    page.get_by_role("button", name="Terminer").click()
    page.wait_for_url(re.compile(r"/(\?.*)?$"))
    expect(page.locator(".fr-alert--success")).to_contain_text(f"« {NOTIFICATION} » terminée")
    assert count(page, "mes-taches") == 0
    screenshot(page, "bac-apres-terminer")


def test_english_labels_when_asked(page):
    login(page, BUYER)
    page.goto("/?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Tasks", exact=True)).to_be_visible()
    expect(page.locator("[data-onglet='mes-taches']")).to_contain_text("My tasks")
    page.get_by_role("link", name="Rédiger et lancer la consultation").click()
    expect(page.get_by_role("button", name="Save draft")).to_be_visible()
    screenshot(page, "task-english")
