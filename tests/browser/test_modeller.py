"""The admin area in a real browser: every page without console errors (screenshots), the
modeller adding a user task to the lifecycle and deploying version 2 (a new marché then runs on
it), and a faulty diagram marked on its element.

The task is added through bpmn-js's own services (`window.clausierModeler`) rather than by
dragging with the mouse: the same commands the palette runs, without depending on pixels.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import login, screenshot

KEY = "marche_clause_sociale"
ADMIN_PAGES = (
    ("/admin/", "admin-accueil"),
    ("/admin/modeles", "admin-modeles"),
    ("/admin/decisions/part_main_oeuvre", "admin-table-decision"),
    ("/admin/instances", "admin-instances"),
    ("/admin/comptes", "admin-comptes"),
    ("/admin/organisations", "admin-organisations"),
    ("/admin/territoires", "admin-territoires"),
    (f"/admin/relances?processus={KEY}", "admin-relances"),
    ("/admin/courriels", "admin-courriels"),
    ("/admin/courriels/retard", "admin-courriel-retard"),
    ("/boite-envoi/", "boite-envoi"),
    ("/admin/modeles/nouveau", "admin-nouveau-diagramme"),
)

# Insert a user task on the flow from the initialisation script to the upstream analysis: the
# first task of every marché registered afterwards.
ADD_TASK = """() => {
  const modeler = window.clausierModeler;
  const registry = modeler.get("elementRegistry");
  const modeling = modeler.get("modeling");
  const flow = registry.get("flow_initialiser_analyse_amont");
  // room for the new task: what lies right of the flow's start moves 150 px to the right
  const start = flow.waypoints[0].x + 10;
  const elements = registry.filter((e) => e.parent && !e.labelTarget);
  const room = modeler.get("spaceTool").calculateAdjustments(elements, "x", 150, start);
  modeling.createSpace(room.movingShapes, room.resizingShapes, { x: 150, y: 0 }, "e", start);
  const [a, b] = flow.waypoints;
  const position = { x: Math.round((a.x + b.x) / 2), y: Math.round((a.y + b.y) / 2) };
  const shape = modeler.get("elementFactory").createShape({ type: "bpmn:UserTask" });
  const task = modeling.createShape(shape, position, flow);
  modeling.updateProperties(task, {
    id: "verifier_pieces",
    name: "Vérifier les pièces du dossier",
    "camunda:candidateGroups": "facilitateur",
  });
  const added = registry.get("verifier_pieces");
  return {
    incoming: added.incoming.map((c) => c.source.id),
    outgoing: added.outgoing.map((c) => c.target.id),
  };
}"""

SELECT = """(id) => {
  const modeler = window.clausierModeler;
  const element = modeler.get("elementRegistry").get(id);
  modeler.get("selection").select(element);
  modeler.get("canvas").scrollToElement(element);
}"""

BREAK_DUE_DATE = """() => {
  const modeler = window.clausierModeler;
  const task = modeler.get("elementRegistry").get("analyse_amont");
  modeler.get("modeling").updateProperties(task, { "camunda:dueDate": "((" });
}"""


def open_modeller(page, path: str) -> None:
    page.goto(path)
    expect(page.locator("#clz-modeleur")).to_have_attribute("data-pret", "oui", timeout=20_000)
    expect(page.locator(".djs-element").first).to_be_attached()


def test_every_admin_page_without_console_errors(page):
    login(page, "admin")
    page.get_by_role("link", name="Administration", exact=True).first.click()
    expect(page.get_by_role("heading", name="Administration", exact=True)).to_be_visible()
    for path, name in ADMIN_PAGES:
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        if name == "admin-courriel-retard":  # the HTML preview, in a sandboxed frame
            preview = page.frame_locator("iframe.clz-apercu").locator("body")
            expect(preview).to_contain_text("Bonjour Camille Martin")
        screenshot(page, name)
        wide = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert wide, f"{path} : la page déborde en largeur"


def test_admin_adds_a_user_task_deploys_version_2_and_a_new_marche_runs_on_it(page):
    login(page, "admin")
    page.goto("/admin/modeles")
    section = page.locator(f"[data-processus='{KEY}']")
    section.get_by_role("link", name="Ouvrir dans le modeleur").click()
    expect(page.locator("#clz-modeleur")).to_have_attribute("data-pret", "oui", timeout=20_000)
    expect(page.locator("#clz-version")).to_have_text("1")
    added = page.evaluate(ADD_TASK)
    assert added == {"incoming": ["initialiser"], "outgoing": ["analyse_amont"]}
    page.evaluate(SELECT, "verifier_pieces")
    expect(page.locator("#clz-proprietes")).to_contain_text("Vérifier les pièces du dossier")
    # the Camunda properties are in the panel: candidate groups, due date, form fields…
    panel = page.locator("#clz-proprietes")
    panel.locator(".bio-properties-panel-group-header", has_text="Attribution").click()
    groups = panel.locator("#bio-properties-panel-candidateGroups")
    expect(groups).to_have_value("facilitateur")
    expect(
        panel.locator(".bio-properties-panel-group-header", has_text="Formulaire")
    ).to_be_visible()
    screenshot(page, "modeleur-tache-ajoutee")

    page.get_by_role("button", name="Déployer une nouvelle version").click()
    expect(page.locator("#clz-etat")).to_contain_text(f"Version 2 de « {KEY} » déployée")
    expect(page.locator("#clz-version")).to_have_text("2")
    screenshot(page, "modeleur-version-2")
    page.goto("/admin/modeles")
    expect(page.locator(f"[data-processus='{KEY}'] tr[data-version='2']")).to_contain_text("admin")

    # a new marché, registered through the API with the admin's session, runs on version 2
    token = page.evaluate("document.querySelector('input[name=csrf]').value")
    buyers = page.request.get("/api/v1/organisations").json()
    buyer = next(o for o in buyers if o["kind"] == "acheteur")
    territory = page.request.get("/api/v1/territories").json()[0]
    answer = page.request.post(
        "/api/v1/marches",
        headers={"X-CSRF-Token": token},
        data={
            "reference": "ADMIN-V2-001",
            "subject": "Entretien des espaces verts",
            "buyer_id": buyer["id"],
            "territory_id": territory["id"],
            "nature": "services",
            "cpv_code": "77310000",
            "estimated_amount_ht": "180000",
            "duration_months": 24,
        },
    )
    assert answer.status == 201, answer.text()
    instance_id = answer.json()["instance_id"]
    instance = page.request.get(f"/api/v1/instances/{instance_id}").json()
    assert (instance["key"], instance["version"]) == (KEY, 2)
    assert [t["element_id"] for t in instance["tasks"]] == ["verifier_pieces"]

    page.goto("/admin/instances?processus=" + KEY)
    row = page.locator(f"tr[data-instance='{instance_id}']")
    expect(row).to_contain_text("version 2")
    screenshot(page, "admin-instances-version-2")


def test_a_faulty_diagram_is_marked_on_its_element(page):
    login(page, "admin")
    open_modeller(page, f"/admin/modeles/{KEY}/modeler")
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#clz-etat")).to_contain_text("Diagramme valide")
    page.evaluate(BREAK_DUE_DATE)
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#clz-etat")).to_contain_text("Diagramme refusé")
    marked = page.locator(".djs-element.clz-erreur")
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("data-element-id", "analyse_amont")
    expect(page.locator(".clz-erreur-bulle")).to_contain_text("refusé")
    problem = page.locator("#clz-problemes li")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text(re.compile(r"analyse_amont.*refusé"))
    screenshot(page, "modeleur-erreur")

    # deploying the same faulty diagram is refused on the spot, nothing deployed
    page.get_by_role("button", name="Déployer une nouvelle version").click()
    expect(page.locator("#clz-etat")).to_contain_text("Diagramme refusé")
    expect(page.locator(".djs-element.clz-erreur")).to_have_count(1)


EDIT_FIRST_OUTPUT = """(value) => {
  const viewer = window.clausierDmnModeler.getActiveViewer();
  const table = viewer.get("sheet").getRoot().businessObject;
  viewer.get("modeling").editCell(table.rule[0].outputEntry[0], value);
  return table.rule[0].outputEntry[0].text;
}"""


def test_a_decision_table_is_edited_and_deployed_with_its_processes(page):
    login(page, "admin")
    page.goto("/admin/decisions/part_main_oeuvre")
    page.get_by_role("link", name="Modifier dans l'éditeur DMN").click()
    expect(page.locator("#clz-dmn")).to_have_attribute("data-pret", "oui", timeout=20_000)
    expect(page.locator(".tjs-table")).to_be_visible()
    expect(page.locator("#clz-vues button[aria-pressed='true']")).to_contain_text(
        "Part de main-d'œuvre"
    )
    assert page.evaluate(EDIT_FIRST_OUTPUT, "0.72") == "0.72"
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#clz-etat")).to_contain_text("Table valide")
    screenshot(page, "editeur-dmn")
    page.get_by_role("button", name="Déployer une nouvelle version").click()
    expect(page.locator("#clz-etat")).to_contain_text("Version 2 de « part_main_oeuvre » déployée")
    expect(page.locator("#clz-etat")).to_contain_text(KEY)
    expect(page.locator("#clz-version")).to_have_text("2")
    page.goto("/admin/decisions/part_main_oeuvre")
    expect(page.locator("[data-decision='part_main_oeuvre'] tbody tr").first).to_contain_text(
        "0.72"
    )
