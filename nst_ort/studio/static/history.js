// The history: every run with its thumbnail (a button that shows it), its settings, status and
// time, and "again", "compare" and "delete", each named after the run it acts on. Compare puts
// two runs side by side at full width, labelled, with a wipe between them.

import { api, runImage } from "./api.js";
import { $, el, hasPicture, showError, title } from "./dom.js";
import { state, update } from "./store.js";
import { wipe } from "./wipe.js";

let drawn = "";  // what the list shows, to redraw it only when it changed

function entry(run, actions) {
  const name = title(run);
  const open = el("button", { className: "open" },
    hasPicture(run) ? el("img", { src: runImage(run.id, run.finished || 0), alt: "" }) : run.status);
  open.setAttribute("aria-label", `Open ${name} (${run.status})`);
  open.onclick = () => actions.show(run.id);
  const button = (text, label, action) => {
    const made = el("button", { type: "button", textContent: text, onclick: action });
    made.setAttribute("aria-label", `${label} ${name}`);
    return made;
  };
  const settings = Object.entries(run.options).map(([key, value]) => `${key.replace(/_/g, " ")} ${value}`).join(", ");
  const meta = el("div", { className: "meta" },
    el("span", { textContent: `${name}: ${run.status}${run.summary ? " " + run.summary : ""}. ${settings}` }),
    el("br"),
    button("again", "Make", () => actions.again(run)),
    button("compare", "Compare", () => pickForComparison(run.id)),
    button("delete", "Delete", async () => {
      if (!confirm(`Delete ${name}? Its picture and files go.`)) return;
      try { await api("DELETE", `/api/runs/${run.id}`); await refreshHistory(actions); } catch (p) { showError(p); }
    }));
  const item = el("li", {}, open, meta);
  item.dataset.run = run.id;
  item.dataset.status = run.status;
  return item;
}

export async function refreshHistory(actions) {
  const runs = await api("GET", "/api/runs");
  update({ runs });
  const shown = JSON.stringify(runs.map((run) => [run.id, run.status, run.finished, run.summary]));
  if (shown === drawn) return runs;
  drawn = shown;
  const list = $("history");
  const focused = document.activeElement && document.activeElement.closest("#history li");
  const refocus = focused ? [focused.dataset.run, document.activeElement.getAttribute("aria-label")] : null;
  list.replaceChildren(...runs.map((run) => entry(run, actions)));
  if (refocus) {  // a keyboard user keeps their place
    const again = [...list.querySelectorAll(`li[data-run="${refocus[0]}"] button`)]
      .find((button) => button.getAttribute("aria-label") === refocus[1]);
    if (again) again.focus();
  }
  return runs;
}

function pickForComparison(id) {
  const comparing = [...state.comparing.filter((other) => other !== id), id].slice(-2);
  update({ comparing });
  if (comparing.length < 2) { $("message").textContent = "pick a second run to compare"; return; }
  $("message").textContent = "";
  const [first, second] = comparing.map((run) => state.runs.find((item) => item.id === run));
  $("compare-a").src = runImage(first.id);
  $("compare-b").src = runImage(second.id);
  $("compare-a").alt = title(first);
  $("compare-b").alt = title(second);
  $("compare-label-a").textContent = title(first);
  $("compare-label-b").textContent = title(second);
  $("compare").hidden = false;
  $("compare").scrollIntoView({ block: "start" });
  $("compare-slider").focus();
}

export function setupCompare() {
  wipe($("compare-a"), $("compare-slider"));
  $("compare-close").onclick = () => { $("compare").hidden = true; update({ comparing: [] }); };
}
