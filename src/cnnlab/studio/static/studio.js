// The studio page: one view per hash route (#/runs, #/run/ID, #/compare/QUERY, #/predict/ID,
// #/kernels, #/arith).
import * as runs from "./runs.js";
import * as compare from "./compare.js";
import * as predict from "./predict.js";
import * as kernels from "./kernels.js";
import * as arith from "./arith.js";

const VIEWS = {
  runs: runs.showList,
  run: runs.showRun,
  compare: compare.show,
  predict: predict.show,
  kernels: kernels.show,
  arith: arith.show,
};

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const view = name in VIEWS ? name : "runs";
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.id !== `view-${view}`;
  }
  for (const link of document.querySelectorAll("header nav a")) {
    link.classList.toggle("active", link.dataset.view.split(" ").includes(view));
  }
  VIEWS[view](decodeURIComponent(rest.join("/")));
}

runs.init();
predict.init();
kernels.init();
arith.init();
window.addEventListener("hashchange", route);
route();
