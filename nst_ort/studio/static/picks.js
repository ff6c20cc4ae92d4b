// Choosing the photo and paintings: files shown as thumbnails with a remove button, dropped on
// a field or pasted (the photo first, then paintings), and the gallery of public-domain
// paintings chosen with a click or Enter.

import { api, withToken } from "./api.js";
import { $, el } from "./dom.js";
import { state, update } from "./store.js";

const FILE_INPUTS = ["content", "style", "mask"];
const urls = new WeakMap();  // a chosen file's object URL, made once

export function fileUrl(file) {
  if (!urls.has(file)) urls.set(file, URL.createObjectURL(file));
  return urls.get(file);
}

function showPicked(input) {
  $(input.id + "-picked").replaceChildren(...[...input.files].map((file, index) => {
    const remove = el("button", { type: "button", textContent: "\u00d7" });
    remove.setAttribute("aria-label", `Remove ${file.name}`);
    remove.onclick = () => setFiles(input, [...input.files].filter((_, other) => other !== index));
    return el("span", { className: "picked" }, el("img", { src: fileUrl(file), alt: file.name }), remove);
  }));
}

function setFiles(input, files) {
  const transfer = new DataTransfer();
  for (const file of files) transfer.items.add(file);
  input.files = transfer.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
}

function addFiles(input, files) {
  const images = [...files].filter((file) => file.type.startsWith("image/"));
  if (images.length) setFiles(input, input.multiple ? [...input.files, ...images] : images.slice(0, 1));
}

export function setupPicks() {
  for (const id of FILE_INPUTS) {
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
    const files = [...((event.clipboardData || {}).files || [])];
    if (files.length) addFiles($("content").files.length ? $("style") : $("content"), files);
  });
}

export async function buildGallery() {
  const gallery = await api("GET", "/api/paintings");
  for (const painting of gallery) {
    const button = el("button", { type: "button", className: "painting",
                                  title: `${painting.artist}, ${painting.title}, ${painting.year} (${painting.licence})` },
      el("img", { src: withToken(painting.thumbnail), alt: "" }), el("span", { textContent: painting.title }));
    button.dataset.painting = painting.name;
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", `${painting.title} by ${painting.artist}, ${painting.year}`);
    button.onclick = () => {
      const chosen = state.paintings.includes(painting.name);
      button.setAttribute("aria-pressed", String(!chosen));
      update({ paintings: chosen ? state.paintings.filter((name) => name !== painting.name)
                                 : [...state.paintings, painting.name] });
    };
    $("gallery").appendChild(button);
  }
  return gallery;
}

export function chosenPaintings(gallery) {
  // every painting chosen, in the order a run receives them: files first, then the gallery's
  const byName = new Map(gallery.map((painting) => [painting.name, painting]));
  return [
    ...[...$("style").files].map((file) => ({ key: "file:" + file.name, title: file.name.replace(/\.[^.]+$/, ""),
                                              file, thumbnail: fileUrl(file) })),
    ...state.paintings.map((name) => ({ key: "gallery:" + name, title: byName.get(name).title, name,
                                        thumbnail: withToken(byName.get(name).thumbnail) })),
  ];
}
