// The runs list and a run's page: report, model diagram and config.
import { api, el, metric, report, runPath } from "./util.js";

export function init() {
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
    for (const run of rows) body.append(row(run));
    document.getElementById("runs-table").hidden = rows.length === 0;
    document.getElementById("runs-empty").hidden = rows.length > 0;
    report("runs-error", null);
  } catch (error) {
    report("runs-error", error);
  }
}

function row(run) {
  const link = el("a", { href: `#/run/${encodeURIComponent(run.id)}`, text: run.id });
  const metrics = run.metrics || {};
  const cells = [
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
