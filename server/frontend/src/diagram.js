// The lifecycle diagram of a marché, in bpmn-js's navigated viewer (zoom and move, no editing).
// Data from the page's JSON endpoint: {xml, current, completed, waiting: [element ids]}.
// Current tasks get the `clz-current` marker, completed elements and the flows between done
// steps `clz-completed`. The page lists the same tasks as text (the figure is aria-hidden).
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";

async function show(container) {
  const answer = await fetch(container.dataset.source, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
  const data = await answer.json();
  if (!data.xml) return;
  const viewer = new NavigatedViewer({ container });
  await viewer.importXML(data.xml);
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  const current = new Set(data.current || []);
  // a pending timer on an intermediate event is where the process waits (not those attached
  // to a task: the task itself is the current step)
  (data.waiting || []).forEach((id) => {
    const element = registry.get(id);
    if (element && element.type === "bpmn:IntermediateCatchEvent") current.add(id);
  });
  const completed = new Set(data.completed || []);
  const mark = (id, marker) => {
    if (registry.get(id)) canvas.addMarker(id, marker);
  };
  completed.forEach((id) => mark(id, "clz-completed"));
  current.forEach((id) => mark(id, "clz-current"));
  // The engine reports user tasks only; the automatic steps (scripts, rules, gateways, events)
  // between a step done or the start and a step reached were run: mark them done as well.
  const flows = registry.filter((element) => element.type === "bpmn:SequenceFlow");
  const outgoing = new Map();
  const incoming = new Map();
  flows.forEach((flow) => {
    if (!flow.source || !flow.target) return;
    if (!outgoing.has(flow.source.id)) outgoing.set(flow.source.id, []);
    if (!incoming.has(flow.target.id)) incoming.set(flow.target.id, []);
    outgoing.get(flow.source.id).push(flow.target);
    incoming.get(flow.target.id).push(flow.source);
  });
  const automatic = (element) =>
    element.type !== "bpmn:UserTask" && !completed.has(element.id) && !current.has(element.id);
  const walk = (seeds, next) => {
    const seen = new Set();
    const queue = [...seeds];
    while (queue.length) {
      const id = queue.shift();
      (next.get(id) || []).forEach((element) => {
        if (automatic(element) && !seen.has(element.id)) {
          seen.add(element.id);
          queue.push(element.id);
        }
      });
    }
    return seen;
  };
  const starts = registry
    .filter((element) => element.type === "bpmn:StartEvent" && !element.host)
    .map((element) => element.id);
  const reached = [...completed, ...current];
  const after = walk([...completed, ...starts], outgoing);
  const before = walk(reached, incoming);
  const done = new Set(completed);
  after.forEach((id) => {
    const element = registry.get(id);
    const ended = data.status === "completed" && element.type === "bpmn:EndEvent";
    if (before.has(id) || ended) done.add(id);
  });
  if (reached.length) starts.filter((id) => before.has(id)).forEach((id) => done.add(id));
  done.forEach((id) => {
    if (!completed.has(id)) mark(id, "clz-completed");
  });
  flows.forEach((flow) => {
    if (!flow.source || !flow.target) return;
    if (done.has(flow.source.id) && (done.has(flow.target.id) || current.has(flow.target.id))) {
      canvas.addMarker(flow.id, "clz-completed");
    }
  });
  canvas.zoom("fit-viewport", "auto");
  container.dataset.state = "ready";
}

const container = document.getElementById("diagramme");
if (container) {
  show(container).catch(() => {
    container.dataset.state = "error";
    const message = document.createElement("p");
    message.className = "fr-error-text";
    message.textContent = container.dataset.error || "Diagramme indisponible.";
    container.replaceChildren(message);
  });
}
