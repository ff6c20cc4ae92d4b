// A sweep: "one picture per painting" (and per strength) makes a grid of runs, shown here
// labelled as they come, and saved as one sheet once every picture exists.

import { withToken, runImage } from "./api.js";
import { $, el, hasPicture } from "./dom.js";
import { state } from "./store.js";

let drawn = "";

function label(run) {
  const paintings = run.styles.map((name) => (run.titles || {})[name] || name).join(" + ");
  return paintings + (run.options.style_weight ? `, strength ${run.options.style_weight}` : "");
}

export function renderSweep(show) {
  const runs = state.sweep.map((id) => state.runs.find((run) => run.id === id)).filter(Boolean);
  $("sweep").hidden = runs.length < 2;
  const key = JSON.stringify([runs.map((run) => [run.id, run.status, run.finished]), state.sweepColumns]);
  if (runs.length < 2 || key === drawn) return;
  drawn = key;
  $("sweep-grid").style.gridTemplateColumns = `repeat(${state.sweepColumns}, minmax(0, 1fr))`;
  $("sweep-grid").replaceChildren(...runs.map((run) => {
    const open = el("button", { type: "button", className: "cell", onclick: () => show(run.id) },
      hasPicture(run) ? el("img", { src: runImage(run.id, run.finished || 0), alt: "" }) : el("span", { textContent: run.status }));
    open.setAttribute("aria-label", `Open ${label(run)} (${run.status})`);
    const cell = el("figure", {}, open, el("figcaption", { textContent: label(run) }));
    cell.dataset.run = run.id;
    return cell;
  }));
  const ready = runs.every((run) => ["done", "stopped"].includes(run.status));
  $("sweep-sheet").hidden = !ready;
  $("sweep-sheet").href = withToken(`/api/sheet?runs=${runs.map((run) => run.id).join(",")}&columns=${state.sweepColumns}`);
  $("sweep-state").textContent = ready ? "" : `${runs.filter((run) => run.status === "done").length} of ${runs.length} done`;
}
