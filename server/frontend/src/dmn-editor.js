// The DMN editor of the admin area (dmn-js): the decision tables of one DMN file, editable,
// "Valider" (the server's deployment checks), "Déployer" (a new version of the table, and of the
// processes that use it) and "Télécharger". The page gives the XML (JSON script #clz-dmn-xml),
// the decision to open first and the URLs (data-* of #clz-dmn).
import DmnModeler from "dmn-js/lib/Modeler";

function $(selector) {
  return document.querySelector(selector);
}

function say(message, kind = "info") {
  const status = $("#clz-etat");
  status.className = `fr-alert fr-alert--${kind} fr-alert--sm fr-mb-2w`;
  status.hidden = false;
  status.querySelector("p").textContent = message;
}

class Editor {
  constructor(root) {
    this.root = root;
    this.modeler = new DmnModeler({ container: "#clz-dmn-canevas" });
    window.clausierDmnModeler = this.modeler;
  }

  text(name) {
    return this.root.dataset[`texte${name[0].toUpperCase()}${name.slice(1)}`] || name;
  }

  async open() {
    const xml = JSON.parse($("#clz-dmn-xml").textContent);
    try {
      await this.modeler.importXML(xml);
      const views = this.modeler.getViews();
      const wanted = this.root.dataset.decision;
      const first =
        views.find((v) => v.type === "decisionTable" && v.element.id === wanted) ||
        views.find((v) => v.type === "decisionTable") ||
        views[0];
      await this.modeler.open(first);
      this.tabs();
    } catch (error) {
      say(`${this.text("illisible")} ${error.message}`, "error");
    }
    this.root.dataset.pret = "oui";
  }

  // One button per view: the requirements diagram and each decision.
  tabs() {
    const list = $("#clz-vues");
    list.replaceChildren();
    const active = this.modeler.getActiveView();
    for (const view of this.modeler.getViews()) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      const current = active && view.element === active.element;
      button.className = `fr-btn fr-btn--sm ${current ? "" : "fr-btn--tertiary"}`;
      if (current) button.setAttribute("aria-pressed", "true");
      button.dataset.vue = view.element.id;
      button.textContent =
        view.type === "drd" ? this.text("schema") : view.element.name || view.element.id;
      button.addEventListener("click", async () => {
        await this.modeler.open(view);
        this.tabs();
      });
      item.append(button);
      list.append(item);
    }
  }

  async post(url) {
    const { xml } = await this.modeler.saveXML({ format: true });
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/xml",
        "X-CSRF-Token": this.root.dataset.csrf,
        Accept: "application/json",
      },
      body: xml,
    });
    const body = await response.json().catch(() => ({}));
    return { status: response.status, body };
  }

  show(problems) {
    const list = $("#clz-problemes");
    list.replaceChildren();
    for (const problem of problems) {
      const item = document.createElement("li");
      const where = (problem.element_ids || []).join(", ");
      item.textContent = where ? `${where} : ${problem.message}` : problem.message;
      list.append(item);
    }
    list.closest("section").hidden = problems.length === 0;
  }

  async validate() {
    const { status, body } = await this.post(this.root.dataset.urlValider);
    if (status !== 200) {
      say(body.message || `${this.text("echec")} (${status})`, "error");
      return false;
    }
    this.show(body.problems || []);
    say(this.text(body.ok ? "valide" : "invalide"), body.ok ? "success" : "error");
    return body.ok;
  }

  async deploy() {
    if (!(await this.validate())) return;
    const { status, body } = await this.post(this.root.dataset.urlDeployer);
    if (status === 201 || status === 200) {
      this.show([]);
      const version = $("#clz-version");
      if (version) version.textContent = String(body.version);
      say(body.message, "success");
      return;
    }
    if (body.problems) this.show(body.problems);
    say(body.message || `${this.text("echec")} (${status})`, "error");
  }

  async download() {
    const { xml } = await this.modeler.saveXML({ format: true });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([xml], { type: "application/xml" }));
    link.download = this.root.dataset.fichier || "decision.dmn";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }
}

const root = document.getElementById("clz-dmn");
if (root) {
  const editor = new Editor(root);
  const busy = (action) => async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      say(`${editor.text("echec")} ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  };
  $("#clz-valider").addEventListener("click", busy(() => editor.validate()));
  $("#clz-deployer").addEventListener("click", busy(() => editor.deploy()));
  $("#clz-telecharger").addEventListener("click", busy(() => editor.download()));
  editor.open();
}
