// The runs list (tick runs to compare them) and a run's page: report, model diagram, config.
import { api, el, metric, report, runPath } from "./util.js";
import { compareLink } from "./compare.js";

const MAX_COMPARED = 12;
const selected = new Set();

export function init() {
  document.getElementById("runs-compare").addEventListener("click", () => {
    location.hash = compareLink([...selected]);
  });
  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.addEventListener("click", () => openTab(tab.dataset.tab));
  }
  document.getElementById("run-diagram").addEventListener("error", diagramFailed);
}

function openTab(name) {
  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.classList.toggle("active", tab.dataset.tab === name);
  }
  for (const panel of document.querySelectorAll("[data-panel]")) {
    panel.hidden = panel.dataset.panel !== name;
  }
}

function created(value) {
  return value ? new Date(value).toLocaleString() : "–";
}

/** The runs list, newest first. */
export async function showList() {
  const body = document.querySelector("#runs-table tbody");
  body.replaceChildren();
  try {
    const [health, data] = await Promise.all([api("/api/health"), api("/api/runs")]);
    document.getElementById("runs-folder").textContent = health.runs_folder;
    const rows = data.runs.sort((a, b) => (b.created || "").localeCompare(a.created || ""));
    const listed = new Set(rows.map((run) => run.id));
    for (const id of selected) if (!listed.has(id)) selected.delete(id);
    for (const run of rows) body.append(row(run));
    updateSelection();
    document.getElementById("runs-table").hidden = rows.length === 0;
    document.getElementById("runs-empty").hidden = rows.length > 0;
    report("runs-error", null);
  } catch (error) {
    report("runs-error", error);
  }
}

/** The compare button and the boxes: at most MAX_COMPARED runs can be ticked. */
function updateSelection() {
  const count = selected.size;
  const button = document.getElementById("runs-compare");
  button.disabled = count === 0;
  button.textContent =
    count === 1 ? "Show its curves" : count > 1 ? `Compare ${count} runs` : "Compare runs";
  for (const box of document.querySelectorAll("#runs-table input[type=checkbox]")) {
    box.disabled = box.dataset.broken === "yes" || (count >= MAX_COMPARED && !box.checked);
  }
}

function checkbox(run) {
  const box = el("input", { type: "checkbox", checked: selected.has(run.id), title: run.error
    ? "this run cannot be read" : `compare ${run.id}` });
  box.dataset.id = run.id;
  box.dataset.broken = run.error ? "yes" : "no";
  box.addEventListener("change", () => {
    if (box.checked) selected.add(run.id);
    else selected.delete(run.id);
    updateSelection();
  });
  return box;
}

function row(run) {
  const link = el("a", { href: `#/run/${encodeURIComponent(run.id)}`, text: run.id });
  const metrics = run.metrics || {};
  const cells = [
    el("td", {}, checkbox(run)),
    el("td", {}, link),
    el("td", { text: run.error ? `unreadable: ${run.error}` : run.model || "custom" }),
    el("td", { text: run.dataset || "–" }),
    el("td", { text: run.task || "–" }),
    el("td", { class: "number", text: metric("accuracy", metrics.accuracy) }),
    el("td", { class: "number", text: metric("loss", metrics.loss) }),
    el("td", { class: "number", text: run.epochs ?? "–" }),
    el("td", { text: created(run.created) }),
    el("td", {}, run.predictable
      ? el("a", { href: `#/predict/${encodeURIComponent(run.id)}`, text: "predict" })
      : []),
  ];
  return el("tr", {}, cells);
}

/** One run: summary, metrics and the report / diagram / config tabs. */
export async function showRun(id) {
  const path = runPath(id);
  document.getElementById("run-title").textContent = id;
  document.getElementById("run-metrics").replaceChildren();
  try {
    const run = await api(path);
    report("run-error", null);
    document.getElementById("run-title").textContent =
      run.dataset ? `${run.model} on ${run.dataset}` : run.model || run.name;
    const best = run.best_epoch ? `, best epoch ${run.best_epoch} by ${run.monitor}` : "";
    document.getElementById("run-meta").textContent =
      `${run.id} · ${run.task} · created ${created(run.created)} · ${run.epochs} epoch${run.epochs === 1 ? "" : "s"}${best}`;
    document.getElementById("run-metrics").replaceChildren(
      ...Object.entries(run.metrics || {}).map(([name, value]) =>
        el("div", {}, [el("dt", { text: `validation ${name}` }), el("dd", { text: metric(name, value) })])),
    );
    const predictLink = document.getElementById("run-predict");
    predictLink.hidden = !run.predictable;
    predictLink.href = `#/predict/${encodeURIComponent(run.id)}`;
    const frame = document.getElementById("run-report");
    frame.hidden = !run.has_report;
    frame.src = run.has_report ? `${path}/report` : "about:blank";
    document.getElementById("run-no-report").hidden = run.has_report;
    document.getElementById("run-config").textContent = JSON.stringify(run.config, null, 2);
    report("run-diagram-error", null);
    const diagram = document.getElementById("run-diagram");
    diagram.hidden = false;
    diagram.dataset.path = `${path}/diagram.svg`;
    diagram.src = `${path}/diagram.svg`;
    openTab("report");
  } catch (error) {
    report("run-error", error);
  }
}

async function diagramFailed(event) {
  const image = event.target;
  image.hidden = true;
  try {
    await api(image.dataset.path);
  } catch (error) {
    report("run-diagram-error", error);
  }
}
