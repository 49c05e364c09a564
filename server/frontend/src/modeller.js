// The BPMN modeller of the admin area: bpmn-js with the properties panel and the Camunda 7
// extensions (forms, due dates, candidate groups, timers, decision references), "Valider"
// (the server's deployment checks, faults marked on their elements), "Déployer" and "Télécharger".
// The page gives the diagram (JSON script #clz-diagramme) and the URLs (data-* of #clz-modeleur).
import BpmnModeler from "bpmn-js/lib/Modeler";
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from "bpmn-js-properties-panel";
import CamundaPlatformBehaviors from "camunda-bpmn-js-behaviors/lib/camunda-platform";
import camundaModdle from "camunda-bpmn-moddle/resources/camunda.json";
import FrenchLabels from "./modeller/fr.js";

const ERROR = "clz-erreur";

function $(selector) {
  return document.querySelector(selector);
}

function say(message, kind = "info") {
  const status = $("#clz-etat");
  status.className = `fr-alert fr-alert--${kind} fr-alert--sm fr-mb-2w`;
  status.hidden = false;
  status.querySelector("p").textContent = message;
}

class Page {
  constructor(root) {
    this.root = root;
    this.marked = [];
    this.modeler = new BpmnModeler({
      container: "#clz-canevas",
      propertiesPanel: { parent: "#clz-proprietes" },
      additionalModules: [
        BpmnPropertiesPanelModule,
        BpmnPropertiesProviderModule,
        CamundaPlatformPropertiesProviderModule,
        CamundaPlatformBehaviors,
        ...(document.documentElement.lang === "fr" ? [FrenchLabels] : []),
      ],
      moddleExtensions: { camunda: camundaModdle },
    });
    window.clausierModeler = this.modeler;
  }

  async open() {
    const xml = JSON.parse($("#clz-diagramme").textContent);
    try {
      const { warnings } = await this.modeler.importXML(xml);
      if (warnings.length) {
        say(`${this.text("avertissements")} ${warnings.length}`, "warning");
      }
      this.modeler.get("canvas").zoom("fit-viewport");
      const marked = JSON.parse($("#clz-marques")?.textContent || "[]");
      if (marked.length) this.show(marked); // e.g. where an instance failed
    } catch (error) {
      say(`${this.text("illisible")} ${error.message}`, "error");
    }
    this.root.dataset.pret = "oui";
  }

  text(name) {
    return this.root.dataset[`texte${name[0].toUpperCase()}${name.slice(1)}`] || name;
  }

  async xml() {
    const { xml } = await this.modeler.saveXML({ format: true });
    return xml;
  }

  async post(url) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/xml",
        "X-CSRF-Token": this.root.dataset.csrf,
        Accept: "application/json",
      },
      body: await this.xml(),
    });
    const body = await response.json().catch(() => ({}));
    return { status: response.status, body };
  }

  clear() {
    const canvas = this.modeler.get("canvas");
    const registry = this.modeler.get("elementRegistry");
    for (const id of this.marked) {
      if (registry.get(id)) canvas.removeMarker(id, ERROR);
    }
    this.modeler.get("overlays").remove({ type: ERROR });
    this.marked = [];
    const list = $("#clz-problemes");
    list.replaceChildren();
    list.closest("section").hidden = true;
  }

  show(problems) {
    this.clear();
    const canvas = this.modeler.get("canvas");
    const registry = this.modeler.get("elementRegistry");
    const overlays = this.modeler.get("overlays");
    const list = $("#clz-problemes");
    for (const problem of problems) {
      const item = document.createElement("li");
      item.className = "clz-probleme";
      const ids = (problem.element_ids || []).filter((id) => registry.get(id));
      item.dataset.elements = ids.join(" ");
      if (ids.length) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "fr-link";
        button.textContent = ids.join(", ");
        button.addEventListener("click", () => this.focus(ids[0]));
        item.append(button, document.createTextNode(" : "));
      }
      item.append(document.createTextNode(problem.message));
      list.append(item);
      for (const id of ids) {
        canvas.addMarker(id, ERROR);
        this.marked.push(id);
        const note = document.createElement("div");
        note.className = "clz-erreur-bulle";
        note.setAttribute("role", "note");
        note.textContent = problem.message;
        overlays.add(id, ERROR, { position: { bottom: -6, left: 0 }, html: note });
      }
    }
    list.closest("section").hidden = problems.length === 0;
    if (problems.length) {
      const first = problems.find((p) => (p.element_ids || []).some((id) => registry.get(id)));
      if (first) this.focus(first.element_ids.find((id) => registry.get(id)));
    }
  }

  focus(id) {
    const element = this.modeler.get("elementRegistry").get(id);
    if (!element) return;
    const canvas = this.modeler.get("canvas");
    this.modeler.get("selection").select(element);
    canvas.zoom(1); // readable, the element in the middle (not under the palette)
    const box = canvas.viewbox();
    const x = element.x + (element.width || 0) / 2 - box.width / 2;
    const y = element.y + (element.height || 0) / 2 - box.height / 2;
    canvas.viewbox({ x, y, width: box.width, height: box.height });
  }

  async validate() {
    const { status, body } = await this.post(this.root.dataset.urlValider);
    if (status !== 200) {
      say(body.message || `${this.text("echec")} (${status})`, "error");
      return false;
    }
    this.show(body.problems || []);
    if (body.ok) {
      say(this.text("valide"), "success");
      return true;
    }
    say(this.text("invalide"), "error");
    return false;
  }

  async deploy() {
    if (!(await this.validate())) return;
    const { status, body } = await this.post(this.root.dataset.urlDeployer);
    if (status === 201 || status === 200) {
      this.show([]);
      for (const selector of ["#clz-version", "#clz-version-ouverte"]) {
        const shown = $(selector);
        if (shown) shown.textContent = String(body.version);
      }
      this.root.dataset.version = String(body.version);
      say(body.message, "success");
      return;
    }
    if (body.problems) this.show(body.problems);
    say(body.message || `${this.text("echec")} (${status})`, "error");
  }

  async download() {
    const blob = new Blob([await this.xml()], { type: "application/xml" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = this.root.dataset.fichier || "diagramme.bpmn";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }
}

const root = document.getElementById("clz-modeleur");
if (root) {
  const page = new Page(root);
  const busy = (action) => async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      say(`${page.text("echec")} ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  };
  $("#clz-valider").addEventListener("click", busy(() => page.validate()));
  $("#clz-deployer").addEventListener("click", busy(() => page.deploy()));
  $("#clz-telecharger").addEventListener("click", busy(() => page.download()));
  page.open();
}
