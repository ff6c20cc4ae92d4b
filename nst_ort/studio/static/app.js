// nst-ort studio: the page. Everything it does goes through the HTTP API (nst_ort/studio/app.py).
"use strict";

const token = new URLSearchParams(location.search).get("token");
const withToken = (url) => token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
const $ = (id) => document.getElementById(id);
let current = null;   // the run on show
let events = null;    // its event stream
let comparing = [];   // runs picked for comparison

async function api(method, url, body) {
  const response = await fetch(withToken(url), { method, body });
  const data = response.status === 204 ? {} : await response.json();
  if (!response.ok) throw Object.assign(new Error(data.error || response.statusText), { field: data.field });
  return data;
}

function showError(problem) {
  document.querySelectorAll(".error").forEach((span) => { span.textContent = ""; });
  if (!problem) { $("message").textContent = ""; return; }
  const span = document.querySelector(`[data-error-for="${problem.field}"]`);
  if (span) span.textContent = problem.message; else $("message").textContent = problem.message;
}

function field(option) {
  const wrap = document.createElement("div");
  const label = document.createElement("label");
  label.textContent = option.flag.slice(2).replace(/-/g, " ");
  let input;
  if (option.choices.length) {
    input = document.createElement("select");
    for (const value of ["", ...option.choices]) {
      const item = document.createElement("option");
      item.value = value; item.textContent = value || `(${option.default})`;
      input.appendChild(item);
    }
  } else if (option.kind === "bool") {
    input = document.createElement("select");
    for (const [value, text] of [["", `(${option.default})`], ["true", "yes"], ["false", "no"]]) {
      const item = document.createElement("option");
      item.value = value; item.textContent = text;
      input.appendChild(item);
    }
  } else {
    input = document.createElement("input");
    input.placeholder = option.default;
    if (option.words.length) {  // an option naming a file: its words, or an uploaded file's name
      const words = document.createElement("datalist");
      words.id = "words-" + option.name;
      for (const word of option.words)
        words.appendChild(Object.assign(document.createElement("option"), { value: word }));
      input.setAttribute("list", words.id);
      label.appendChild(words);
    }
  }
  input.name = option.name; input.dataset.option = option.name; input.id = "option-" + option.name;
  label.appendChild(input);
  const help = document.createElement("span");
  help.className = "help"; help.textContent = option.help + (option.allowed ? ` (${option.allowed})` : "");
  const error = document.createElement("span");
  error.className = "error"; error.dataset.errorFor = option.name;
  wrap.append(label, help, error);
  return wrap;
}

async function buildForm() {
  const schema = await api("GET", "/api/options");
  for (const option of schema.options) $(option.everyday ? "everyday" : "advanced").appendChild(field(option));
  for (const name of schema.recipes) {
    const item = document.createElement("option");
    item.value = item.textContent = name;
    $("recipe").appendChild(item);
  }
}

function formOptions() {
  const options = {};
  document.querySelectorAll("[data-option]").forEach((input) => {
    if (input.value !== "") options[input.dataset.option] = input.value;
  });
  return options;
}

let againFrom = null;  // "again": the photo and paintings of this earlier run, unless new ones are picked

function requests() {
  // One run, or with "one picture per painting" a small grid: each painting x each style weight.
  const options = formOptions();
  const paintings = [...$("style").files, ...chosenPaintings];  // files, then gallery names
  if (!$("separately").checked) return [{ options, paintings }];
  const weights = String(options.style_weight || "").split(",").filter((w) => w.trim() !== "");
  const grid = [];
  for (const painting of paintings.length ? paintings : [null])
    for (const weight of weights.length ? weights : [null])
      grid.push({ options: weight === null ? options : { ...options, style_weight: weight.trim() },
                  paintings: painting ? [painting] : [] });
  return grid;
}

async function start(event) {
  event.preventDefault();
  showError(null);
  let first = null;
  try {
    for (const request of requests()) {
      const body = new FormData();
      if ($("content").files[0]) body.append("content", $("content").files[0]);
      const named = request.paintings.filter((painting) => typeof painting === "string");
      for (const file of request.paintings) if (typeof file !== "string") body.append("style", file);
      if (named.length) request.options = { ...request.options, paintings: named };
      for (const file of $("mask").files) body.append("mask", file);
      if (againFrom) body.append("inputs_of", againFrom);  // what is not picked anew comes from that run
      body.append("options", JSON.stringify(request.options));
      body.append("recipe", $("recipe").value);
      const { id } = await api("POST", "/api/runs", body);
      first = first || id;
    }
    await show(first);
    await refreshHistory();
  } catch (problem) { showError(problem); }
}

// Chosen files: thumbnails with a remove button; drop files on a field, or paste an image
// (the photo first, then paintings).
function showPicked(input) {
  const box = $(input.id + "-picked");
  box.replaceChildren();
  [...input.files].forEach((file, index) => {
    const item = document.createElement("span");
    item.className = "picked";
    const thumb = Object.assign(document.createElement("img"), { src: URL.createObjectURL(file), alt: file.name });
    const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "\u00d7" });
    remove.setAttribute("aria-label", `Remove ${file.name}`);
    remove.onclick = () => { setFiles(input, [...input.files].filter((_, other) => other !== index)); };
    item.append(thumb, remove);
    box.appendChild(item);
  });
}

function setFiles(input, files) {
  const transfer = new DataTransfer();
  for (const file of files) transfer.items.add(file);
  input.files = transfer.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
}

function addFiles(input, files) {
  const images = [...files].filter((file) => file.type.startsWith("image/"));
  if (!images.length) return;
  setFiles(input, input.multiple ? [...input.files, ...images] : images.slice(0, 1));
}

for (const id of ["content", "style", "mask"]) {
  const input = $(id);
  input.addEventListener("change", () => showPicked(input));
  const zone = input.closest("label");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dropping"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dropping"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dropping");
    addFiles(input, event.dataTransfer.files);
  });
}

document.addEventListener("paste", (event) => {
  const files = [...(event.clipboardData || {}).files || []];
  if (!files.length) return;
  addFiles($("content").files.length ? $("style") : $("content"), files);
});

// The gallery: public-domain paintings bundled with the studio, chosen with a click (or Enter).
const chosenPaintings = [];
async function buildGallery() {
  const paintings = await api("GET", "/api/paintings");
  for (const painting of paintings) {
    const button = Object.assign(document.createElement("button"), { type: "button", className: "painting" });
    button.dataset.painting = painting.name;
    button.setAttribute("aria-pressed", "false");
    button.title = `${painting.artist}, ${painting.title}, ${painting.year} (${painting.licence})`;
    button.setAttribute("aria-label", `${painting.title} by ${painting.artist}, ${painting.year}`);
    const thumb = Object.assign(document.createElement("img"), { src: withToken(painting.thumbnail), alt: "" });
    const caption = Object.assign(document.createElement("span"), { textContent: painting.title });
    button.append(thumb, caption);
    button.onclick = () => {
      const at = chosenPaintings.indexOf(painting.name);
      if (at >= 0) chosenPaintings.splice(at, 1); else chosenPaintings.push(painting.name);
      button.setAttribute("aria-pressed", String(at < 0));
      estimateRun();
    };
    $("gallery").appendChild(button);
  }
}

function describe(run) {
  const p = run.progress || {};
  if (run.status === "running" && p.iteration)
    return `running: level ${p.level}/${p.levels}, iteration ${p.iteration}/${p.iterations}, loss ${Number(p.loss).toPrecision(4)}, elapsed ${p.elapsed}, ETA ${p.eta}`;
  return run.status + (run.summary ? ` ${run.summary}` : "") + (run.error ? `: ${run.error}` : "");
}

function hasPicture(run) {
  // a finished or stopped run has its picture; a running one its preview once an iteration is done
  return ["done", "stopped"].includes(run.status) || Boolean(run.progress && run.progress.iteration);
}

// One picture request at a time: a newer preview waits for the one loading (replacing it
// would make the browser abort the load under way).
let pictureLoading = false, pictureWanted = null;
function refreshImage(id) {
  const url = withToken(`/api/runs/${id}/image?t=${Date.now()}`);
  if (pictureLoading) { pictureWanted = url; return; }
  pictureLoading = true;
  $("preview").src = url;
}

function pictureSettled() {
  pictureLoading = false;
  if (pictureWanted) { const next = pictureWanted; pictureWanted = null; pictureLoading = true; $("preview").src = next; }
}

function sentName(name) {
  // a stored input's name as the artist sent it: "1_starry_night.jpg" -> "Starry night"
  const stem = name.replace(/^\d+_/, "").replace(/^mask\d+_/, "").replace(/\.[^.]+$/, "").replace(/[_-]+/g, " ").trim();
  return stem ? stem[0].toUpperCase() + stem.slice(1) : name;
}

function title(run) {
  const when = new Date(run.created * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const named = (name) => (run.titles || {})[name] || sentName(name);  // as sent, or a gallery painting's title
  const what = `${named(run.content)} \u00d7 ${run.styles.map(named).join(" + ")}`;
  return `${what}${run.kind === "print" ? " (print)" : ""}, ${when}`;
}

async function show(id) {
  current = id;
  if (events) events.close();
  const run = await api("GET", `/api/runs/${id}`);
  $("current-id").textContent = title(run);
  $("preview").dataset.run = id;
  document.body.classList.add("showing");
  history.replaceState(null, "", `#run=${id}`);
  $("status").textContent = describe(run);
  setButtons(run);
  if (hasPicture(run)) refreshImage(id);
  else { $("preview").removeAttribute("src"); pictureLoading = false; pictureWanted = null; }
  events = new EventSource(withToken(`/api/runs/${id}/events`));
  events.addEventListener("progress", (message) => {
    const p = JSON.parse(message.data);
    $("status").textContent = describe({ status: "running", progress: p });
    if (p.preview) refreshImage(id);
  });
  events.addEventListener("status", async (message) => {
    const state = JSON.parse(message.data);
    const fresh = await api("GET", `/api/runs/${id}`);
    $("status").textContent = describe(fresh);
    setButtons(fresh);
    if (["done", "stopped", "failed"].includes(state.status)) {
      events.close();  // the run has ended: nothing more will come (the browser would reconnect and replay)
      if (hasPicture(fresh)) refreshImage(id);
      refreshHistory();
    }
  });
}

function setButtons(run) {
  $("stop").disabled = !["queued", "running"].includes(run.status);
  $("resume").disabled = !["stopped", "failed"].includes(run.status);
  $("download").hidden = !["done", "stopped"].includes(run.status);
  $("download").href = withToken(`/api/runs/${run.id}/image?download=1`);
  $("print-box").hidden = run.status !== "done";
  if (run.status === "done") estimatePrint();
}

async function act(action) {
  if (!current) return;
  try {
    if (action === "stop") { $("status").textContent = "stopping: keeping the best image so far..."; $("stop").disabled = true; }
    const run = await api("POST", `/api/runs/${current}/${action}`);
    if (run.status !== "running") setButtons(run);
    if (action === "resume") await show(current);
  } catch (problem) { showError(problem); }
}

async function makePrint() {
  showError(null);
  const body = JSON.stringify({ size: $("print-size").value, time_budget: $("print-budget").value,
                                max_memory: $("print-memory").value });
  try {
    const { id } = await api("POST", `/api/runs/${current}/print`, body);
    await show(id);
    await refreshHistory();
  } catch (problem) { showError(problem); }
}

let drawn = "";  // what the history shows, to redraw it only when it changed
async function refreshHistory() {
  const runs = await api("GET", "/api/runs");
  const state = JSON.stringify(runs.map((run) => [run.id, run.status, run.finished, run.summary]));
  if (state === drawn) return runs;
  drawn = state;
  const list = $("history");
  const focused = document.activeElement && document.activeElement.closest("#history li");
  const refocus = focused ? [focused.dataset.run, document.activeElement.textContent] : null;
  list.replaceChildren();
  for (const run of runs) {
    const item = document.createElement("li");
    item.dataset.run = run.id;
    item.dataset.status = run.status;
    const name = title(run);
    const open = Object.assign(document.createElement("button"), { className: "open" });
    open.setAttribute("aria-label", `Open ${name} (${run.status})`);
    if (hasPicture(run)) {
      const thumb = document.createElement("img");
      thumb.src = withToken(`/api/runs/${run.id}/image?t=${run.finished || 0}`);
      thumb.alt = "";
      open.appendChild(thumb);
    } else open.textContent = run.status;
    open.onclick = () => show(run.id);
    const meta = document.createElement("div");
    meta.className = "meta";
    const when = new Date(run.created * 1000).toLocaleString();
    const settings = Object.entries(run.options).map(([k, v]) => `${k} ${v}`).join(", ");
    meta.textContent = `${name}: ${run.status}${run.summary ? " " + run.summary : ""}. ${when}. ${settings}`;
    const again = Object.assign(document.createElement("button"), { textContent: "again" });
    again.setAttribute("aria-label", `Make ${name} again`);
    again.onclick = async () => {
      const source = run.kind === "print" ? await api("GET", `/api/runs/${run.parent}`) : run;  // a print: its picture's
      document.querySelectorAll("[data-option]").forEach((input) => { input.value = ""; });
      for (const [k, v] of Object.entries(source.options)) { const input = $("option-" + k); if (input) input.value = v; }
      againFrom = source.id;
      $("again-note").hidden = false;
      $("again-note").textContent = `again with ${title(source)}: pick a photo or paintings to change only those`;
    };
    const compare = Object.assign(document.createElement("button"), { textContent: "compare" });
    compare.setAttribute("aria-label", `Compare ${name}`);
    compare.onclick = () => pickForComparison(run.id);
    const remove = Object.assign(document.createElement("button"), { textContent: "delete" });
    remove.setAttribute("aria-label", `Delete ${name}`);
    remove.onclick = async () => {
      if (!confirm(`Delete ${name}? Its picture and files go.`)) return;
      try { await api("DELETE", `/api/runs/${run.id}`); refreshHistory(); } catch (p) { showError(p); }
    };
    meta.append(document.createElement("br"), again, compare, remove);
    item.append(open, meta);
    list.appendChild(item);
  }
  if (refocus) {  // a keyboard user keeps their place
    const again = [...list.querySelectorAll(`li[data-run="${refocus[0]}"] button`)].find((b) => b.textContent === refocus[1]);
    if (again) again.focus();
  }
  return runs;
}

function pickForComparison(id) {
  comparing = [...comparing.filter((other) => other !== id), id].slice(-2);
  if (comparing.length < 2) { $("message").textContent = "pick a second run to compare"; return; }
  $("message").textContent = "";
  $("compare-a").src = withToken(`/api/runs/${comparing[0]}/image`);
  $("compare-b").src = withToken(`/api/runs/${comparing[1]}/image`);
  $("compare").hidden = false;
}

$("preview").onload = () => { $("preview").dataset.loads = Number($("preview").dataset.loads || 0) + 1; pictureSettled(); };
$("preview").onerror = pictureSettled;
$("actual-size").onchange = (event) => { document.querySelector(".frame").classList.toggle("actual", event.target.checked); };
$("compare-slider").oninput = (event) => { $("compare-clip").style.width = event.target.value + "%"; };
$("compare-b").onload = () => { $("compare-b").style.width = $("compare-a").clientWidth + "px"; };
$("compare-close").onclick = () => { $("compare").hidden = true; comparing = []; };
$("form").addEventListener("submit", start);
$("stop").onclick = () => act("stop");
$("resume").onclick = () => act("resume");
$("print").onclick = makePrint;
async function startUp() {
  await buildForm();
  await buildGallery();
  restoreForm();
  const runs = await refreshHistory();
  const asked = (location.hash.match(/run=([0-9a-f]{12})/) || [])[1];
  const live = runs.find((run) => ["running", "queued"].includes(run.status));
  const chosen = runs.find((run) => run.id === asked) || live;
  if (chosen) await show(chosen.id);
  setInterval(keepInStep, 2000);
}

// Every few seconds: the history as the server has it (another tab or a script may have
// started a run: this page then shows it), and a notice at once if the server is gone.
let lost = false;
async function keepInStep() {
  try {
    const runs = await refreshHistory();
    if (lost) { lost = false; $("lost").hidden = true; $("start").disabled = false; if (current) await show(current); }
    const live = runs.find((run) => run.status === "running");
    const shown = runs.find((run) => run.id === current);
    if (live && live.id !== current && (!shown || !["running", "queued"].includes(shown.status))) await show(live.id);
  } catch (problem) {
    if (!lost) { lost = true; $("lost").hidden = false; $("start").disabled = true; if (events) events.close(); }
  }
}

// The form's settings survive a reload (this browser only).
function saveForm() {
  localStorage.setItem("nst-studio-form", JSON.stringify({ options: formOptions(), recipe: $("recipe").value }));
}

function restoreForm() {
  try {
    const saved = JSON.parse(localStorage.getItem("nst-studio-form") || "{}");
    for (const [name, value] of Object.entries(saved.options || {})) {
      const input = $("option-" + name);
      if (input) input.value = value;
    }
    if (saved.recipe) $("recipe").value = saved.recipe;
  } catch (problem) { localStorage.removeItem("nst-studio-form"); }
}

$("form").addEventListener("change", saveForm);
startUp().catch((problem) => showError(problem));

// What a run would take before Start (and a print before it is queued): time, energy, memory.
async function photoSize(file) {
  const bitmap = await createImageBitmap(file);
  const size = { width: bitmap.width, height: bitmap.height };
  bitmap.close();
  return size;
}

async function postJson(url, body) {
  return api("POST", url, JSON.stringify(body));
}

async function estimateRun() {
  const photo = $("content").files[0];
  if (!photo) { $("estimate").textContent = ""; return; }
  try {
    const size = await photoSize(photo);
    const answer = await postJson("/api/estimate", { ...size, styles: $("style").files.length + chosenPaintings.length || 1,
      masks: $("mask").files.length, recipe: $("recipe").value, options: formOptions() });
    $("estimate").textContent = "This run: " + answer.summary;
  } catch (problem) { $("estimate").textContent = problem.message; }
}

async function estimatePrint() {
  if (!current) return;
  try {
    const answer = await postJson("/api/estimate", { print_of: current, size: Number($("print-size").value),
      time_budget: $("print-budget").value, max_memory: $("print-memory").value });
    $("print-estimate").textContent = "This print: " + answer.summary;
  } catch (problem) { $("print-estimate").textContent = problem.message; }
}

for (const id of ["content", "style", "mask", "recipe"]) $(id).addEventListener("change", estimateRun);
$("form").addEventListener("change", (event) => { if (event.target.dataset.option) estimateRun(); });
for (const id of ["print-size", "print-budget", "print-memory"]) $(id).addEventListener("change", estimatePrint);

