// Masks painted in the page: over the photo, each painting gets the places brushed with its
// colour (a place belongs to one painting); an eraser, a brush size, "fill the rest" and
// "clear" (the keyboard's way). Each mask is sent as a PNG, white where its painting goes,
// one per painting in the paintings' order, as `--mask` takes them.

import { $, el } from "./dom.js";

const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"];
const LONG_SIDE = 512;  // the masks' resolution (the run resizes them to the picture)

export class MaskPainter {
  constructor() {
    this.photo = null;         // an <img> of the photo
    this.paintings = [];       // [{ key, title }], in order
    this.masks = new Map();    // painting key -> canvas (white where it goes)
    this.active = null;        // the key being painted, or "eraser"
    this.view = $("mask-canvas");
    this.painted = false;      // anything brushed since the last clear
    this.setupPointer();
    $("mask-size").addEventListener("input", () => { $("mask-size-value").textContent = $("mask-size").value + " px"; });
    $("mask-fill").onclick = () => this.fillRest();
    $("mask-clear").onclick = () => this.clear();
  }

  async setPhoto(url) {
    if (!url) { this.photo = null; this.masks.clear(); this.render(); return; }
    const image = new Image();
    image.src = url;
    await image.decode();
    const scale = LONG_SIDE / Math.max(image.naturalWidth, image.naturalHeight);
    this.size = [Math.max(1, Math.round(image.naturalWidth * scale)), Math.max(1, Math.round(image.naturalHeight * scale))];
    this.photo = image;
    this.masks.clear();
    this.painted = false;
    this.setPaintings(this.paintings);
  }

  setPaintings(paintings) {
    this.paintings = paintings;
    for (const key of [...this.masks.keys()]) if (!paintings.some((p) => p.key === key)) this.masks.delete(key);
    if (this.photo) for (const painting of paintings) if (!this.masks.has(painting.key)) {
      const canvas = el("canvas", { width: this.size[0], height: this.size[1] });
      this.masks.set(painting.key, canvas);
    }
    if (!paintings.some((p) => p.key === this.active)) this.active = paintings.length ? paintings[0].key : null;
    this.renderTools();
    this.render();
  }

  renderTools() {
    const tools = this.paintings.map((painting, index) => [painting.key, painting.title, COLOURS[index % COLOURS.length]]);
    $("mask-tools").replaceChildren(...[...tools, ["eraser", "Eraser", null]].map(([key, text, colour]) => {
      const button = el("button", { type: "button", className: "tool" },
        colour ? el("span", { className: "swatch", style: `background:${colour}` }) : null, text);
      button.dataset.tool = key;
      button.setAttribute("aria-pressed", String(key === this.active));
      button.setAttribute("aria-label", key === "eraser" ? "Eraser" : `Brush: where ${text} goes`);
      button.onclick = () => { this.active = key; this.renderTools(); };
      return button;
    }));
    $("mask-note").textContent = !this.photo ? "Choose a photo to paint on."
      : this.paintings.length < 2 ? "Choose two or more paintings, then brush where each goes."
      : "Brush where each painting goes; unbrushed places get none of them.";
  }

  render() {
    const view = this.view;
    if (!this.photo) { view.hidden = true; return; }
    view.hidden = false;
    [view.width, view.height] = this.size;
    const context = view.getContext("2d");
    context.drawImage(this.photo, 0, 0, view.width, view.height);
    this.paintings.forEach((painting, index) => {
      const tinted = el("canvas", { width: view.width, height: view.height });
      const tint = tinted.getContext("2d");
      tint.drawImage(this.masks.get(painting.key), 0, 0);
      tint.globalCompositeOperation = "source-in";
      tint.fillStyle = COLOURS[index % COLOURS.length];
      tint.fillRect(0, 0, view.width, view.height);
      context.globalAlpha = 0.5;
      context.drawImage(tinted, 0, 0);
      context.globalAlpha = 1;
    });
  }

  setupPointer() {
    let last = null;
    const at = (event) => {
      const box = this.view.getBoundingClientRect();
      return [(event.clientX - box.left) * this.view.width / box.width, (event.clientY - box.top) * this.view.height / box.height];
    };
    this.view.addEventListener("pointerdown", (event) => {
      if (!this.active) return;
      this.view.setPointerCapture(event.pointerId);
      last = at(event);
      this.stroke(last, last);
    });
    this.view.addEventListener("pointermove", (event) => {
      if (!last) return;
      const point = at(event);
      this.stroke(last, point);
      last = point;
    });
    for (const end of ["pointerup", "pointercancel"]) this.view.addEventListener(end, () => { last = null; });
  }

  stroke(from, to) {
    const size = Number($("mask-size").value) * this.view.width / this.view.getBoundingClientRect().width;
    for (const [key, canvas] of this.masks) {
      const context = canvas.getContext("2d");
      context.globalCompositeOperation = key === this.active ? "source-over" : "destination-out";
      Object.assign(context, { strokeStyle: "#fff", lineWidth: size, lineCap: "round", lineJoin: "round" });
      context.beginPath();
      context.moveTo(...from);
      context.lineTo(...to);
      context.stroke();
    }
    this.painted = true;
    this.render();
  }

  fillRest() {
    // the active painting takes every place no other painting has
    const mine = this.masks.get(this.active);
    if (!mine) return;
    const context = mine.getContext("2d");
    context.globalCompositeOperation = "source-over";
    context.fillStyle = "#fff";
    context.fillRect(0, 0, mine.width, mine.height);
    context.globalCompositeOperation = "destination-out";
    for (const [key, canvas] of this.masks) if (key !== this.active) context.drawImage(canvas, 0, 0);
    this.painted = true;
    this.render();
  }

  clear() {
    for (const canvas of this.masks.values()) canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    this.painted = false;
    this.render();
  }

  async blobs() {
    // one PNG per painting, white where it goes on black; an error naming a painting with no place
    if (!this.painted) return [];
    const files = [];
    for (const painting of this.paintings) {
      const mask = this.masks.get(painting.key);
      const flat = el("canvas", { width: mask.width, height: mask.height });
      const context = flat.getContext("2d");
      context.fillStyle = "#000";
      context.fillRect(0, 0, flat.width, flat.height);
      context.drawImage(mask, 0, 0);
      const pixels = context.getImageData(0, 0, flat.width, flat.height).data;
      if (!pixels.some((value, index) => index % 4 === 0 && value > 0))
        throw Object.assign(new Error(`brush where ${painting.title} goes, or clear the masks`), { field: "mask" });
      const blob = await new Promise((resolve) => flat.toBlob(resolve, "image/png"));
      files.push(new File([blob], `painted_mask_${files.length + 1}.png`, { type: "image/png" }));
    }
    return files;
  }
}
