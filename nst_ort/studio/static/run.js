// The run on show: its picture large (fitted, or 1:1), a before/after wipe against its photo,
// live progress from its event stream, Stop / Resume / Download / Make print, and its inputs
// (photo, paintings, masks) as small pictures.

import { api, runImage, runInput, withToken } from "./api.js";
import { $, el, hasPicture, title } from "./dom.js";
import { estimatePrint } from "./estimate.js";
import { state, update } from "./store.js";
import { wipe } from "./wipe.js";

let events = null;  // the shown run's event stream
let ended = () => {};  // told when the shown run ends (the history then redraws at once)

function describe(run) {
  const p = run.progress || {};
  if (run.status === "running" && p.iteration)
    return `running: level ${p.level}/${p.levels}, iteration ${p.iteration}/${p.iterations}, loss ${Number(p.loss).toPrecision(4)}, elapsed ${p.elapsed}, ETA ${p.eta}`;
  return run.status + (run.summary ? ` ${run.summary}` : "") + (run.error ? `: ${run.error}` : "");
}

// One picture request at a time: a newer preview waits for the one loading (replacing it
// would make the browser abort the load under way).
let loading = false, wanted = null;
function refreshPicture(id) {
  const url = runImage(id, Date.now());
  if (loading) { wanted = url; return; }
  loading = true;
  $("preview").src = url;
}

function settled() {
  loading = false;
  if (wanted) { const next = wanted; wanted = null; loading = true; $("preview").src = next; }
}

function showInputs(run) {
  const named = (name) => (run.titles || {})[name] || name;
  const figure = (name, role) => el("figure", {}, el("img", { src: runInput(run.id, name), alt: `${role}: ${named(name)}` }),
                                    el("figcaption", { textContent: role }));
  $("inputs").replaceChildren(figure(run.content, "photo"),
    ...run.styles.map((name, index) => figure(name, run.styles.length > 1 ? `painting ${index + 1}` : "painting")),
    ...run.masks.map((name, index) => figure(name, `mask ${index + 1}`)));
  $("before").src = runInput(run.id, run.content);
}

function setButtons(run) {
  $("stop").disabled = !["queued", "running"].includes(run.status);
  $("resume").disabled = !["stopped", "failed"].includes(run.status);
  $("download").hidden = !["done", "stopped"].includes(run.status);
  $("download").href = withToken(`/api/runs/${run.id}/image?download=1`);
  $("print-box").hidden = run.status !== "done";  // its estimate once the picture is loaded (printSize)
}

function printSize() {
  // a finished picture's print: at least twice its size (a print must be larger), then estimated
  const preview = $("preview");
  if ($("print-box").hidden || !state.current) return;
  const side = Math.max(preview.naturalWidth, preview.naturalHeight);
  if (Number($("print-size").value) <= side) $("print-size").value = Math.max(2048, 2 * side);
  $("print-size").min = side + 1;
  estimatePrint(state.current);
}

export async function show(id) {
  if (events) events.close();
  const run = await api("GET", `/api/runs/${id}`);
  update({ current: id });
  $("current-id").textContent = title(run);
  $("preview").dataset.run = id;
  document.body.classList.add("showing");
  history.replaceState(null, "", location.search + `#run=${id}`);
  $("status").textContent = describe(run);
  setButtons(run);
  showInputs(run);
  if (hasPicture(run)) refreshPicture(id);
  else { $("preview").removeAttribute("src"); loading = false; wanted = null; }
  events = new EventSource(withToken(`/api/runs/${id}/events`));
  events.addEventListener("progress", (message) => {
    const progress = JSON.parse(message.data);
    $("status").textContent = describe({ status: "running", progress });
    if (progress.preview) refreshPicture(id);
  });
  events.addEventListener("status", async (message) => {
    const over = ["done", "stopped", "failed"].includes(JSON.parse(message.data).status);
    if (over) events.close();  // nothing more will come (the browser would reconnect and replay)
    const fresh = await api("GET", `/api/runs/${id}`);
    $("status").textContent = describe(fresh);
    setButtons(fresh);
    if (over && hasPicture(fresh)) refreshPicture(id);
    if (over) ended();
  });
}

export function closeEvents() {
  if (events) events.close();
}

async function act(action) {
  if (!state.current) return;
  try {
    if (action === "stop") { $("status").textContent = "stopping: keeping the best image so far..."; $("stop").disabled = true; }
    const run = await api("POST", `/api/runs/${state.current}/${action}`);
    if (run.status !== "running") setButtons(run);
    if (action === "resume") await show(state.current);
  } catch (problem) { $("status").textContent = problem.message; }
}

export function setupRunView({ onPrint, onEnded }) {
  ended = onEnded;
  $("preview").onload = () => {
    $("preview").dataset.loads = Number($("preview").dataset.loads || 0) + 1;
    settled();
    printSize();
  };
  $("preview").onerror = settled;
  $("actual-size").onchange = (event) => $("frame").classList.toggle("actual", event.target.checked);
  wipe($("before"), $("before-after"));
  $("stop").onclick = () => act("stop");
  $("resume").onclick = () => act("resume");
  $("print").onclick = onPrint;
  for (const id of ["print-size", "print-budget", "print-memory"])
    $(id).addEventListener("change", () => state.current && estimatePrint(state.current));
}
