// Runs compared: their curves overlaid, final metrics side by side, the settings that differ.
// While a run trains (or its history keeps changing) its history is polled and redrawn.
import { api, el, isRate, metric, report, runPath } from "./util.js";
import { COLOURS, lineChart, swatch } from "./chart.js";

const POLL_MS = 2000;
const NOT_CURVES = new Set(["epoch", "lr", "time"]);
let generation = 0;
let runs = [];

/** The page address comparing `ids` (the hash carries the API's query, encoded once more). */
export function compareLink(ids) {
  const query = new URLSearchParams(ids.map((id) => ["runs", id]));
  return `#/compare/${encodeURIComponent(query.toString())}`;
}

/** The compare view of the runs named in `query` (`runs=ID&runs=ID`). */
export async function show(query) {
  generation += 1;
  const ids = new URLSearchParams(query).getAll("runs");
  document.getElementById("compare-title").textContent =
    ids.length === 1 ? "One run's curves" : `Compare ${ids.length} runs`;
  await load(generation, ids);
}

async function load(current, ids) {
  const params = new URLSearchParams(ids.map((id) => ["runs", id]));
  try {
    const data = await api(`/api/compare?${params}`);
    if (current !== generation) return;
    report("compare-error", null);
    runs = data.runs.map((run, i) => ({ ...run, colour: COLOURS[i % COLOURS.length], changed: false }));
    drawLegend();
    drawCurves();
    drawMetrics(data.metrics);
    drawConfig(data.config);
    schedule(current);
  } catch (error) {
    report("compare-error", error);
    for (const id of ["compare-legend", "compare-charts", "compare-metrics", "compare-config"]) {
      document.getElementById(id).replaceChildren();
    }
  }
}

function schedule(current) {
  if (runs.some((run) => run.running || run.changed)) {
    setTimeout(() => poll(current), POLL_MS);
  }
}

/** Read the history of every run training or changing; redraw when one changed, reload the
 * whole view (final metrics) when one finished. */
async function poll(current) {
  if (current !== generation || document.getElementById("view-compare").hidden) return;
  let finished = false;
  let redraw = false;
  for (const run of runs.filter((r) => r.running || r.changed)) {
    try {
      const live = await api(`${runPath(run.id)}/history`);
      if (current !== generation) return;
      run.changed = live.stamp !== run.stamp;
      if (run.changed) Object.assign(run, { history: live.history, stamp: live.stamp });
      finished ||= run.running && !live.running;
      redraw ||= run.changed;
      run.running = live.running;
    } catch (error) {
      report("compare-error", error);
      Object.assign(run, { running: false, changed: false });
    }
  }
  if (finished) {
    await load(current, runs.map((run) => run.id));
    return;
  }
  if (redraw) {
    drawLegend();
    drawCurves();
  }
  schedule(current);
}

function heading(run) {
  return el("th", {}, [swatch(run.colour), el("span", { text: run.id })]);
}

function drawLegend() {
  const items = runs.map((run) =>
    el("li", { class: run.running ? "running" : "" }, [
      swatch(run.colour, true),
      swatch(run.colour),
      el("code", { text: run.id }),
      el("span", { class: "hint", text: `${run.model || "custom model"} on ${run.dataset || "own data"}` }),
      run.running ? el("span", { class: "badge", text: "training…" }) : [],
    ]));
  document.getElementById("compare-legend").replaceChildren(...items);
  const live = runs.filter((run) => run.running).length;
  const note = document.getElementById("compare-live");
  note.hidden = live === 0;
  const who = live === 1 ? "1 run is training: its" : `${live} runs are training: their`;
  note.textContent = `${who} curves update every ${POLL_MS / 1000} s.`;
}

/** Metric names with a curve, in first-seen order: `loss` from `loss` and `val_loss`. */
function curveNames() {
  const names = runs.flatMap((run) => Object.keys(run.history.columns))
    .filter((column) => !NOT_CURVES.has(column))
    .map((column) => column.replace(/^val_/, ""));
  return [...new Set(names)];
}

function drawCurves() {
  const charts = [];
  for (const name of curveNames()) {
    const lines = runs.flatMap((run, i) => {
      const columns = run.history.columns;
      const length = Math.max(0, ...Object.values(columns).map((values) => values.length));
      const epochs = columns.epoch || Array.from({ length }, (_, k) => k + 1);
      return [[name, true], [`val_${name}`, false]]
        .filter(([column]) => columns[column]?.some(Number.isFinite))
        .map(([column, dashed]) => ({
          points: epochs.map((epoch, k) => [epoch, columns[column][k]]),
          colour: run.colour, dashed, label: run.id, run: i,
        }));
    });
    if (lines.length === 0) continue;
    const chart = lineChart(lines, { name, percent: isRate(name) });
    charts.push(el("figure", { class: "card chart-card" }, [el("h3", { text: name }), chart]));
  }
  document.getElementById("compare-charts").replaceChildren(...charts);
  document.getElementById("compare-no-curves").hidden = charts.length > 0;
}

const ROW_NAMES = { epochs: "epochs run", seconds: "training time" };

function drawMetrics(rows) {
  const head = el("tr", {}, [el("th", { text: "metric" }), ...runs.map(heading)]);
  const body = rows.map((row) => {
    const arrow = row.better === "higher" ? " ↑" : row.better === "lower" ? " ↓" : "";
    const name = el("th", { text: (ROW_NAMES[row.name] || row.name) + arrow });
    const cells = row.values.map((value, i) => el("td", {
      class: row.best.includes(i) ? "number best" : "number",
      text: row.name === "seconds" && value !== null ? `${value.toFixed(1)} s` : metric(row.name, value),
    }));
    return el("tr", {}, [name, ...cells]);
  });
  document.getElementById("compare-metrics").replaceChildren(
    el("thead", {}, head), el("tbody", {}, body));
}

function drawConfig(config) {
  const head = el("tr", {}, [el("th", { text: "setting" }), ...runs.map(heading)]);
  const body = config.differ.map((row) => el("tr", {}, [
    el("th", {}, el("code", { text: row.key })),
    ...row.values.map((value) => el("td", value === null
      ? { class: "absent", text: "absent" }
      : { text: value })),
  ]));
  const table = document.getElementById("compare-config");
  table.hidden = body.length === 0;
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, body));
  const same = config.same === 1 ? "1 setting is" : `${config.same} settings are`;
  document.getElementById("compare-same").textContent = body.length === 0
    ? `All ${config.same} settings are the same in every run (the creation time left aside).`
    : `${same} the same in every run (the creation time left aside).`;
}
