// Predict and look inside: draw or upload an image, see the class probabilities, every conv
// layer's feature maps and the learned filters of the chosen run.
import { api, el, report, runPath } from "./util.js";

const PEN = 20; // stroke width on the 280 x 280 pad (MNIST strokes are ~2-3 px of 28)
let pad, ink, runId = null, upload = null, drawing = false, inked = false;

export function init() {
  pad = document.getElementById("pad");
  ink = pad.getContext("2d");
  clear();
  pad.addEventListener("pointerdown", startStroke);
  pad.addEventListener("pointermove", continueStroke);
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  document.getElementById("pad-clear").addEventListener("click", clear);
  document.getElementById("pad-upload").addEventListener("change", uploaded);
  document.getElementById("pad-center").addEventListener("change", () => predict());
  document.getElementById("predict-run").addEventListener("change", (event) => {
    location.hash = `#/predict/${encodeURIComponent(event.target.value)}`;
  });
}

function clear() {
  upload = null;
  inked = false;
  ink.fillStyle = "#000";
  ink.fillRect(0, 0, pad.width, pad.height);
  ink.strokeStyle = "#fff";
  ink.lineWidth = PEN;
  ink.lineCap = ink.lineJoin = "round";
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
    (event.clientY - box.top) * pad.height / box.height];
}

function startStroke(event) {
  drawing = true;
  inked = true;
  upload = null; // drawing over an uploaded picture predicts the drawing
  pad.setPointerCapture(event.pointerId);
  ink.beginPath();
  ink.moveTo(...point(event));
  ink.lineTo(...point(event));
  ink.stroke();
}

function continueStroke(event) {
  if (!drawing) return;
  ink.lineTo(...point(event));
  ink.stroke();
}

function endStroke() {
  if (!drawing) return;
  drawing = false;
  predict();
}

async function uploaded(event) {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  upload = file;
  inked = true;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    const [w, h] = [bitmap.width * scale, bitmap.height * scale];
    ink.fillRect(0, 0, pad.width, pad.height);
    ink.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
  } catch {
    // the browser cannot show it; the server still says whether it can read it
  }
  predict();
}

/** The drawing cropped to its strokes and centred in the pad with a 4/28 margin (MNIST). */
function centred() {
  const { data } = ink.getImageData(0, 0, pad.width, pad.height);
  let [top, left, bottom, right] = [pad.height, pad.width, -1, -1];
  for (let y = 0; y < pad.height; y++) {
    for (let x = 0; x < pad.width; x++) {
      if (data[4 * (y * pad.width + x)] > 40) {
        top = Math.min(top, y); bottom = Math.max(bottom, y);
        left = Math.min(left, x); right = Math.max(right, x);
      }
    }
  }
  if (bottom < 0) return pad;
  const out = el("canvas", { width: pad.width, height: pad.height });
  const context = out.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, out.width, out.height);
  const [w, h] = [right - left + 1, bottom - top + 1];
  const scale = (out.width * 20 / 28) / Math.max(w, h);
  context.drawImage(pad, left, top, w, h,
    (out.width - w * scale) / 2, (out.height - h * scale) / 2, w * scale, h * scale);
  return out;
}

async function imageBlob() {
  if (upload) return upload;
  const source = document.getElementById("pad-center").checked ? centred() : pad;
  return new Promise((resolve) => source.toBlob(resolve, "image/png"));
}

async function predict() {
  if (!runId || !inked) return;
  const form = new FormData();
  form.append("image", await imageBlob(), "drawing.png");
  try {
    const result = await api(`${runPath(runId)}/predict?maps=1`, { method: "POST", body: form });
    report("predict-error", null);
    showPrediction(result);
  } catch (error) {
    report("predict-error", error);
  }
}

function showPrediction(result) {
  const top = result.top;
  document.getElementById("predict-top").textContent =
    `${top.class}  (${(100 * top.probability).toFixed(1)}%)`;
  document.getElementById("predict-bars").replaceChildren(...result.classes.flatMap((name, i) => {
    const p = result.probabilities[i];
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    const best = name === top.class ? " best" : "";
    return [el("span", { class: `label${best}`, text: name }),
      el("div", { class: `track${best}` }, fill),
      el("span", { class: "value", text: `${(100 * p).toFixed(1)}%` })];
  }));
  const seen = document.getElementById("predict-input");
  seen.src = result.input.image;
  seen.hidden = false;
  const inverted = result.inverted ? "; inverted: light background" : "";
  document.getElementById("predict-input-caption").textContent =
    `What the model sees: ${result.input.shape.join(" x ")} (C x H x W)${inverted}`;
  document.getElementById("predict-maps").replaceChildren(...result.feature_maps.map((layer) =>
    layerBox(layer, `output ${layer.shape.join(" x ")}`, layer.maps.map((map, c) =>
      el("img", { class: "pixels", src: map.image, alt: `channel ${c}`,
        title: `channel ${c}: ${Number(map.min).toFixed(3)} .. ${Number(map.max).toFixed(3)}` })))));
}

function layerBox(layer, detail, tiles, kind = "") {
  const [kh, kw] = layer.kernel;
  const more = layer.shown < (layer.shape[0]) ? `, first ${layer.shown} of ${layer.shape[0]}` : "";
  const title = el("h3", { text: layer.layer }, el("span", {
    text: `conv ${layer.in_channels} → ${layer.out_channels}, ${kh}x${kw}, ` +
      `stride ${layer.stride[0]} · ${detail}${more}`,
  }));
  return el("div", { class: "layer" }, [title, el("div", { class: `tiles ${kind}` }, tiles)]);
}

async function showFilters() {
  const box = document.getElementById("predict-filters");
  box.replaceChildren();
  try {
    const { layers } = await api(`${runPath(runId)}/filters`);
    box.replaceChildren(...layers.map((layer) =>
      layerBox(layer, `${layer.how}; full colour at |w| = ${Number(layer.limit).toFixed(3)}`,
        layer.filters.map((src, f) => el("img", { class: "pixels", src, title: `filter ${f}` })),
        "filters")));
  } catch (error) {
    report("predict-error", error);
  }
}

/** Open the view, on run `id` or the newest image classifier. */
export async function show(id) {
  let runs;
  try {
    runs = (await api("/api/runs")).runs.filter((run) => run.predictable);
  } catch (error) {
    report("predict-error", error);
    return;
  }
  runs.sort((a, b) => (b.created || "").localeCompare(a.created || ""));
  const select = document.getElementById("predict-run");
  select.replaceChildren(...runs.map((run) => el("option", {
    value: run.id, text: `${run.id} (${run.model} on ${run.dataset})`,
  })));
  if (!runs.length) {
    report("predict-error", new Error("No image classification run found; train one first."));
    return;
  }
  const chosen = runs.some((run) => run.id === id) ? id : runs[0].id;
  select.value = chosen;
  if (chosen !== runId) {
    runId = chosen;
    showFilters();
    predict();
  }
}
