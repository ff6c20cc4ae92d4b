// nst-ort studio: the page. Everything it does goes through the HTTP API (nst_ort/studio/app.py);
// its state lives in one store (store.js), each part of the page in its own module.

import { api, runInput } from "./api.js";
import { $, showError, title } from "./dom.js";
import { estimateRun } from "./estimate.js";
import { buildForm, fillOptions, formOptions } from "./form.js";
import { refreshHistory, setupCompare } from "./history.js";
import { MaskPainter } from "./masks.js";
import { buildGallery, chosenPaintings, fileUrl, setupPicks } from "./picks.js";
import { closeEvents, setupRunView, show } from "./run.js";
import { state, subscribe, update } from "./store.js";
import { renderSweep } from "./sweep.js";

let gallery = [];
const painter = new MaskPainter();
const actions = { show, again };

function requests(options) {
  // one run; with "one picture per painting" a grid: each painting x each style weight
  const paintings = chosenPaintings(gallery);
  if (!$("separately").checked) return { runs: [{ options, paintings }], columns: 1 };
  const weights = String(options.style_weight || "").split(",").map((w) => w.trim()).filter(Boolean);
  const runs = [];
  for (const painting of paintings.length ? paintings : [null])
    for (const weight of weights.length ? weights : [null])
      runs.push({ options: weight === null ? options : { ...options, style_weight: weight },
                  paintings: painting ? [painting] : [] });
  return { runs, columns: Math.max(1, weights.length) };
}

async function masksToSend(sweep) {
  const painted = await painter.blobs();
  if (painted.length && sweep) throw Object.assign(new Error("painted masks go with one picture of several paintings, "
    + "not with one picture per painting"), { field: "mask" });
  if (painted.length && $("mask").files.length)
    throw Object.assign(new Error("use painted masks or mask files, not both (clear one)"), { field: "mask" });
  return painted.length ? painted : [...$("mask").files];
}

async function start(event) {
  event.preventDefault();
  showError(null);
  try {
    const { runs, columns } = requests(formOptions());
    const masks = await masksToSend(runs.length > 1);
    const made = [];
    for (const request of runs) {
      const body = new FormData();
      if ($("content").files[0]) body.append("content", $("content").files[0]);
      for (const painting of request.paintings) if (painting.file) body.append("style", painting.file);
      const named = request.paintings.filter((painting) => painting.name).map((painting) => painting.name);
      const options = named.length ? { ...request.options, paintings: named } : request.options;
      for (const mask of masks) body.append("mask", mask);
      if (state.againFrom) body.append("inputs_of", state.againFrom);  // what is not picked anew comes from that run
      body.append("options", JSON.stringify(options));
      body.append("recipe", $("recipe").value);
      made.push((await api("POST", "/api/runs", body)).id);
    }
    if (made.length > 1) update({ sweep: made, sweepColumns: columns });
    await show(made[0]);
    await refreshHistory(actions);
  } catch (problem) { showError(problem); }
}

async function again(run) {
  // the form filled with a run's settings (a print: its picture's); files not picked anew come from it
  const source = run.kind === "print" ? await api("GET", `/api/runs/${run.parent}`) : run;
  fillOptions(source.options);
  update({ againFrom: source.id });
  $("again-note").hidden = false;
  $("again-note").textContent = `Again with ${title(source)}: pick a photo or paintings to change only those.`;
  refreshPainter();
}

async function makePrint() {
  $("print-error").textContent = "";
  const body = JSON.stringify({ size: $("print-size").value, time_budget: $("print-budget").value,
                                max_memory: $("print-memory").value });
  try {
    const { id } = await api("POST", `/api/runs/${state.current}/print`, body);
    await show(id);
    await refreshHistory(actions);
  } catch (problem) { $("print-error").textContent = problem.message; }
}

function refreshPainter() {
  const photo = $("content").files[0];
  $("frame").style.backgroundImage = photo ? `url("${fileUrl(photo)}")` : "";  // the photo, until a run is shown
  const earlier = state.againFrom && state.runs.find((run) => run.id === state.againFrom);
  const url = photo ? fileUrl(photo) : earlier ? runInput(earlier.id, earlier.content) : null;
  if (url !== painter.photoUrl) { painter.photoUrl = url; painter.setPhoto(url).catch(() => painter.setPhoto(null)); }
  else painter.setPaintings(chosenPaintings(gallery));
}

function estimate() {
  // one run, or the first of a sweep times its count
  const { runs } = requests(formOptions());
  estimateRun({ photo: $("content").files[0], paintings: runs[0].paintings.length, runs: runs.length,
                masks: $("mask").files.length || (painter.painted ? runs[0].paintings.length : 0),
                recipe: $("recipe").value, options: runs[0].options });
}

// Every few seconds: the history as the server has it (another tab or a script may have
// started a run: this page then shows it), and a notice at once if the server is gone.
async function keepInStep() {
  try {
    const runs = await refreshHistory(actions);
    if (state.lost) { update({ lost: false }); if (state.current) await show(state.current); }
    const live = runs.find((run) => run.status === "running");
    const shown = runs.find((run) => run.id === state.current);
    if (live && live.id !== state.current && (!shown || !["running", "queued"].includes(shown.status))) await show(live.id);
  } catch (problem) {
    if (!state.lost) { update({ lost: true }); closeEvents(); }
  }
}

subscribe((changes) => {
  if ("lost" in changes) { $("lost").hidden = !state.lost; $("start").disabled = state.lost; }
  if ("paintings" in changes) { refreshPainter(); estimate(); }
  if ("runs" in changes || "sweep" in changes) renderSweep(show);
});

async function startUp() {
  update({ schema: await api("GET", "/api/options") });
  buildForm(state.schema);
  setupPicks();
  gallery = await buildGallery();
  setupRunView({ onPrint: makePrint, onEnded: () => refreshHistory(actions) });
  setupCompare();
  $("form").addEventListener("submit", start);
  for (const id of ["content", "style"]) $(id).addEventListener("change", refreshPainter);
  $("form").addEventListener("change", (event) => { if (event.target.closest("#mask-painter") === null) estimate(); });
  $("mask-canvas").addEventListener("pointerup", estimate);
  const runs = await refreshHistory(actions);
  const asked = (location.hash.match(/run=([0-9a-f]{12})/) || [])[1];
  const chosen = runs.find((run) => run.id === asked) || runs.find((run) => ["running", "queued"].includes(run.status));
  if (chosen) await show(chosen.id);
  setInterval(keepInStep, 2000);
}

startUp().catch((problem) => showError(problem));
