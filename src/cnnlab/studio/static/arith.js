// Conv arithmetic: output size, parameters and MACs (the JSON of `cnnlab arith ... --json`),
// then the kernel stepped over the padded (or zero-inserted) input one position at a time.
import { api, debounce, el, number, report } from "./util.js";

const $ = (id) => document.getElementById(id);
let steps = null, position = 0, timer = null;

export function init() {
  const form = $("a-form");
  const changed = debounce(update, 200);
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", (event) => event.preventDefault());
  $("a-first").addEventListener("click", () => go(0));
  $("a-prev").addEventListener("click", () => go(position - 1));
  $("a-next").addEventListener("click", () => go(position + 1));
  $("a-play").addEventListener("click", play);
}

/** The form's options for the current layer kind, as query pairs. */
function options() {
  const form = $("a-form");
  const kind = form.elements.kind.value;
  for (const label of form.querySelectorAll("[data-kinds]")) {
    label.hidden = !label.dataset.kinds.split(" ").includes(kind);
  }
  const pairs = { kind };
  for (const field of form.elements) {
    const label = field.closest("label");
    if (field.name === "kind" || !field.name || (label && label.hidden)) continue;
    if (field.type === "checkbox") {
      if (field.checked) pairs[field.name] = "true";
    } else if (field.value.trim() !== "") {
      pairs[field.name] = field.value.trim();
    }
  }
  return pairs;
}

function command(pairs) {
  const flags = Object.entries(pairs)
    .filter(([key]) => key !== "kind" && key !== "mode")
    .map(([key, value]) => {
      const flag = `--${key.replace("_", "-")}`;
      return value === "true" ? flag : `${flag} ${value}`;
    });
  return `cnnlab arith ${pairs.kind} ${flags.join(" ")} --json`;
}

async function update() {
  const pairs = options();
  $("a-command").textContent = command(pairs);
  const query = new URLSearchParams(pairs);
  try {
    const result = await api(`/api/arith?${query}`);
    report("a-error", null);
    showFacts(result);
  } catch (error) {
    report("a-error", error);
    $("a-result").replaceChildren();
    $("a-json").textContent = "";
  }
  stop();
  try {
    steps = await api(`/api/arith/steps?${query}`);
    report("a-steps-error", null);
    $("a-steps").hidden = false;
    go(0);
  } catch (error) {
    steps = null;
    report("a-steps-error", error);
    $("a-steps").hidden = true;
  }
}

function showFacts(result) {
  const shape = (dims) => dims.join(" x ");
  const [top, bottom, left, right] = result.padding;
  const rows = [
    ["input (H x W x C)", shape(result.input_shape)],
    ["output (H x W x C)", shape(result.output_shape)],
    ["padding top, bottom, left, right", `${top}, ${bottom}, ${left}, ${right}`],
    ["parameters", result.params.toLocaleString("en")],
    ["multiplications (MACs)", result.macs.toLocaleString("en")],
  ];
  $("a-result").replaceChildren(...rows.map(([name, value]) =>
    el("tr", {}, [el("th", { text: name }), el("td", { text: value })])));
  $("a-json").textContent = JSON.stringify(result);
}

function cells(target, grid, classOf) {
  const width = grid[0].length;
  target.style.gridTemplateColumns = `repeat(${width}, var(--cell))`;
  target.style.setProperty("--cell", width > 30 ? "16px" : width > 20 ? "20px" : "26px");
  target.replaceChildren(...grid.flatMap((row, r) => row.map((value, c) =>
    el("div", { class: classOf(r, c), text: number(value) }))));
}

const TITLES = {
  conv: "input, padded (grey: padding)",
  pool: "input, padded (grey: padding)",
  transposed: "input with s - 1 zeros inserted (violet) and framed (grey)",
};

function go(index) {
  if (!steps) return;
  const windows = steps.windows;
  position = Math.max(0, Math.min(index, windows.length - 1));
  const now = windows[position];
  const rows = new Set(now.rows), cols = new Set(now.cols);
  const grid = steps.grid;
  $("a-grid-title").textContent =
    `${TITLES[steps.kind]}: ${grid.length} x ${grid[0].length}`;
  cells($("a-grid"), grid, (r, c) =>
    `${steps.roles[r][c]}${rows.has(r) && cols.has(c) ? " hit" : ""}`);
  const kernelBox = $("a-kernel").parentElement;
  kernelBox.hidden = !steps.kernel;
  if (steps.kernel) {
    $("a-kernel-title").textContent = steps.kernel_note;
    cells($("a-kernel"), steps.kernel, () => "input");
  }
  const width = steps.output[0].length;
  $("a-output-title").textContent = `output: ${steps.output.length} x ${width}`;
  cells($("a-output"), steps.output, (r, c) => {
    const at = r * width + c;
    return at === position ? "current" : at < position ? "done" : "todo";
  });
  $("a-position").textContent =
    `output (${now.at[0]}, ${now.at[1]}): position ${position + 1} of ${windows.length}`;
  $("a-equation").textContent = equation(now);
  const borders = steps.kind === "transposed"
    ? [el("span", { class: "zero", text: "inserted zero" }), el("span", { class: "frame", text: "frame" })]
    : [el("span", { class: "pad", text: "padding" })];
  $("a-legend").replaceChildren(
    el("span", { class: "hit", text: "window" }),
    el("span", { class: "current", text: "output being computed" }),
    el("span", { class: "done", text: "computed" }),
    ...borders,
  );
}

function equation(now) {
  const values = now.rows.flatMap((r) => now.cols.map((c) => steps.grid[r][c]));
  const result = number(now.value);
  if (steps.kind === "pool") {
    const name = steps.mode === "max" ? "max" : "mean";
    return `${name}(${values.map(number).join(", ")}) = ${result}`;
  }
  const weights = steps.kernel.flat();
  if (values.length > 49) return `sum of ${values.length} products = ${result}`;
  const factor = (x) => (x < 0 ? `(${number(x)})` : number(x));
  const products = values.map((v, i) => `${factor(v)}·${factor(weights[i])}`);
  return `${products.join(" + ")} = ${result}`;
}

function stop() {
  clearInterval(timer);
  timer = null;
  $("a-play").textContent = "Play";
}

function play() {
  if (timer) return stop();
  if (steps && position >= steps.windows.length - 1) go(0);
  $("a-play").textContent = "Pause";
  timer = setInterval(() => {
    if (!steps || position >= steps.windows.length - 1) return stop();
    go(position + 1);
  }, 600);
}

export function show() {
  if (!steps) update();
}
