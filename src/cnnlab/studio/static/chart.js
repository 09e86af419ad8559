// Line charts drawn as SVG by the page itself: axes with round ticks, one path per line
// (dashed or solid), points with a tooltip when there are few of them.

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { left: 58, right: 14, top: 10, bottom: 34 };
const MARKERS_UP_TO = 40;

/** One colour per run, in selection order (12 runs at most). */
export const COLOURS = [
  "#2f6fdf", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599",
  "#e67700", "#5c940d", "#862e9c", "#495057", "#d6336c", "#1864ab",
];

/** A new SVG element with attributes and children. */
export function svg(tag, attrs = {}, children = []) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...[].concat(children));
  return node;
}

/** An SVG text element saying `content`. */
function text(content, attrs) {
  const node = svg("text", attrs);
  node.textContent = content;
  return node;
}

/** A short line in a run's colour, dashed or solid: the legend's sample of a curve. */
export function swatch(colour, dashed = false) {
  const line = svg("line", { x1: 1, y1: 6, x2: 27, y2: 6, stroke: colour, "stroke-width": 3 });
  if (dashed) line.setAttribute("stroke-dasharray", "5 3");
  return svg("svg", { width: 28, height: 12, class: "swatch", "aria-hidden": "true" }, line);
}

/** Round ticks (1, 2 or 5 x 10^k apart) covering [low, high], about `count` of them. */
function ticks(low, high, count) {
  if (low === high) [low, high] = [low - (Math.abs(low) || 1) / 2, high + (Math.abs(high) || 1) / 2];
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const first = Math.floor(low / step);
  const last = Math.ceil(high / step);
  const values = [];
  for (let k = first; k <= last; k += 1) values.push(Number((k * step).toPrecision(12)));
  return { values, step };
}

function tickText(value, step, percent) {
  const scaled = percent ? value * 100 : value;
  const digits = Math.max(0, -Math.floor(Math.log10(percent ? step * 100 : step)));
  return scaled.toFixed(Math.min(digits, 6)) + (percent ? "%" : "");
}

/** The path of `points` ([x, y|null]); a missing y breaks the line. */
function pathData(points, x, y) {
  let d = "";
  let pen = "M";
  for (const [px, py] of points) {
    if (py === null || !Number.isFinite(py)) {
      pen = "M";
      continue;
    }
    d += `${pen}${x(px).toFixed(1)},${y(py).toFixed(1)}`;
    pen = "L";
  }
  return d;
}

/**
 * An SVG line chart.
 * `lines`: [{points: [[x, y], ...], colour, dashed, label, run}]; `percent` prints the y
 * ticks as percentages; `name` titles the points' tooltips.
 */
export function lineChart(lines, { name, percent = false, width = 560, height = 260 }) {
  const xs = lines.flatMap((l) => l.points.map((p) => p[0]));
  const ys = lines.flatMap((l) => l.points.map((p) => p[1])).filter(Number.isFinite);
  const xTicks = ticks(Math.min(...xs), Math.max(...xs), 6);
  const yTicks = ticks(Math.min(...ys), Math.max(...ys), 5);
  const [x0, x1] = [xTicks.values[0], xTicks.values.at(-1)];
  const [y0, y1] = [yTicks.values[0], yTicks.values.at(-1)];
  const right = width - MARGIN.right;
  const bottom = height - MARGIN.bottom;
  const x = (v) => MARGIN.left + ((v - x0) / (x1 - x0)) * (right - MARGIN.left);
  const y = (v) => bottom - ((v - y0) / (y1 - y0)) * (bottom - MARGIN.top);
  const grid = [
    ...yTicks.values.flatMap((v) => [
      svg("line", { x1: MARGIN.left, x2: right, y1: y(v), y2: y(v), class: "grid" }),
      text(tickText(v, yTicks.step, percent), { x: MARGIN.left - 6, y: y(v) + 4, "text-anchor": "end" }),
    ]),
    ...xTicks.values.filter(Number.isInteger).flatMap((v) => [
      svg("line", { x1: x(v), x2: x(v), y1: bottom, y2: bottom + 4, class: "axis" }),
      text(String(v), { x: x(v), y: bottom + 17, "text-anchor": "middle" }),
    ]),
  ];
  const frame = svg("path", { d: `M${MARGIN.left},${MARGIN.top}V${bottom}H${right}`, class: "axis" });
  const label = text("epoch", { x: right, y: height - 2, "text-anchor": "end" });
  const curves = lines.map((line) => curve(line, x, y, name, percent));
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" },
    [...grid, frame, label, ...curves.flat()]);
}

function curve(line, x, y, name, percent) {
  const attrs = {
    d: pathData(line.points, x, y),
    stroke: line.colour,
    fill: "none",
    "stroke-width": 2,
    class: line.dashed ? "train" : "validation",
    "data-run": line.run,
  };
  if (line.dashed) attrs["stroke-dasharray"] = "6 4";
  const shown = line.points.filter((p) => Number.isFinite(p[1]));
  if (shown.length > MARKERS_UP_TO) return [svg("path", attrs)];
  const dots = shown.map(([px, py]) => {
    const dot = svg("circle", {
      cx: x(px), cy: y(py), r: 3.5, stroke: line.colour, "stroke-width": 1.5,
      fill: line.dashed ? "#fff" : line.colour, "data-run": line.run, class: attrs.class,
    });
    const title = svg("title");
    const value = percent ? `${(100 * py).toFixed(2)}%` : py.toPrecision(4);
    title.textContent = `${line.label}\nepoch ${px}: ${line.dashed ? "" : "val_"}${name} ${value}`;
    dot.append(title);
    return dot;
  });
  return [svg("path", attrs), ...dots];
}
