// The kernel playground: an image filtered by a named or hand-edited kernel, re-run on every
// change through the same function as `cnnlab kernels`.
import { api, debounce, el, report } from "./util.js";

let named = {}, upload = null;
const $ = (id) => document.getElementById(id);

export function init() {
  $("k-name").addEventListener("change", () => {
    if ($("k-name").value !== "custom") fillGrid(named[$("k-name").value]);
    update();
  });
  $("k-size").addEventListener("change", () => {
    const n = Number($("k-size").value);
    const identity = Array.from({ length: n }, (_, r) =>
      Array.from({ length: n }, (_, c) => (r === (n - 1) / 2 && c === r ? 1 : 0)));
    $("k-name").value = "custom";
    fillGrid(identity);
    update();
  });
  $("k-sample").addEventListener("change", () => {
    if ($("k-sample").value !== "upload") upload = null;
    update();
  });
  $("k-upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file) return;
    upload = file;
    $("k-sample").querySelector("[value=upload]")?.remove();
    $("k-sample").append(el("option", { value: "upload", text: `upload: ${file.name}` }));
    $("k-sample").value = "upload";
    update();
  });
  $("k-range").addEventListener("change", update);
  $("k-sum").addEventListener("change", update);
}

function fillGrid(kernel) {
  const grid = $("k-grid");
  grid.style.gridTemplateColumns = `repeat(${kernel[0].length}, 1fr)`;
  grid.replaceChildren(...kernel.flat().map((value) => {
    const input = el("input", { type: "text", value: String(+value.toFixed(4)) });
    input.addEventListener("input", () => {
      $("k-name").value = "custom";
      edited();
    });
    return input;
  }));
  if (kernel.length === 3 || kernel.length === 5) $("k-size").value = String(kernel.length);
}

const edited = debounce(() => update(), 250);

/** The kernel as the API takes it: its name, or the grid written as rows "a,b,c;d,e,f;...". */
function spec() {
  if ($("k-name").value !== "custom") return $("k-name").value;
  const values = [...$("k-grid").children].map((input) => input.value.trim() || "0");
  const n = Math.round(Math.sqrt(values.length));
  return Array.from({ length: n }, (_, r) => values.slice(r * n, r * n + n).join(",")).join(";");
}

async function update() {
  const fields = {
    kernel: spec(),
    range: $("k-range").value,
    sum_channels: $("k-sum").checked ? "true" : "false",
  };
  const flags = `--kernel "${fields.kernel}" --range ${fields.range}` +
    (fields.sum_channels === "true" ? " --sum-channels" : "");
  $("k-command").textContent = `cnnlab kernels IMAGE ${flags}`;
  try {
    let result;
    if (upload) {
      const form = new FormData();
      for (const [key, value] of Object.entries(fields)) form.append(key, value);
      form.append("image", upload);
      result = await api("/api/kernels/apply", { method: "POST", body: form });
    } else {
      const query = new URLSearchParams({ ...fields, sample: $("k-sample").value });
      result = await api(`/api/kernels/apply?${query}`);
    }
    report("k-error", null);
    $("k-original").src = result.original;
    $("k-result").src = result.result;
    const name = $("k-name").value === "custom" ? "custom kernel" : result.label;
    $("k-title").textContent = `output: ${name}; ${result.detail}`;
  } catch (error) {
    report("k-error", error);
  }
}

export async function show() {
  if (Object.keys(named).length) return;
  try {
    const catalog = await api("/api/kernels");
    named = catalog.kernels;
    $("k-sample").replaceChildren(...catalog.samples.map((name) =>
      el("option", { value: name, text: name })));
    $("k-name").replaceChildren(...Object.keys(named).map((name) =>
      el("option", { value: name, text: name })), el("option", { value: "custom", text: "custom" }));
    $("k-range").replaceChildren(...catalog.ranges.map((name) =>
      el("option", { value: name, text: name })));
    $("k-sample").value = "shapes";
    $("k-name").value = "sobel-x";
    $("k-range").value = "abs";
    fillGrid(named["sobel-x"]);
    update();
  } catch (error) {
    report("k-error", error);
  }
}
