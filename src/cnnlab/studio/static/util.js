// Small helpers shared by the studio's views.

/** Fetch JSON from the studio's API; a refused request throws its one-line error. */
export async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body;
  try {
    body = await response.json();
  } catch {
    body = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

/** The API path of a run: its id is a folder path, encoded segment by segment. */
export function runPath(id) {
  return "/api/runs/" + id.split("/").map(encodeURIComponent).join("/");
}

/** A new element: `props` sets class, text or properties; `children` are appended. */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node[key] = value;
  }
  node.append(...[].concat(children));
  return node;
}

/** Show `error` in the element `id` (or hide it when `error` is null). */
export function report(id, error) {
  const node = document.getElementById(id);
  node.hidden = !error;
  node.textContent = error ? error.message : "";
}

/** Call `fn` once calls stop for `ms` milliseconds. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const PERCENT = ["accuracy", "precision", "recall", "f1", "iou", "dice"];

/** Whether metric `name` is a rate in [0, 1], printed as a percentage. */
export function isRate(name) {
  return PERCENT.some((word) => name.includes(word));
}

/** A metric value as the reports print it: rates in percent, others with 4 decimals. */
export function metric(name, value) {
  if (value === null || value === undefined) return "–";
  if (isRate(name)) return `${(100 * value).toFixed(2)}%`;
  return Number.isInteger(value) ? String(value) : value.toFixed(4);
}

/** A short number for grid cells: 3, -0.5, 4.31. */
export function number(value) {
  if (value === null) return "−∞";
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
}
