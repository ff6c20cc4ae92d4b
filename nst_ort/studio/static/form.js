// The options of a new picture, built from the option schema: the everyday ones first, the rest
// in Advanced, grouped by what they change and each group explained; the recipe with its words.
// The settings survive a reload (this browser only).

import { $, el } from "./dom.js";
import { state } from "./store.js";

const SAVED = "nst-studio-form";

function input(option) {
  const choices = option.choices.length ? option.choices.map((value) => [value, value])
    : option.kind === "bool" ? [["true", "yes"], ["false", "no"]] : null;
  if (choices) {
    const select = el("select");
    for (const [value, text] of [["", `${option.default} (default)`], ...choices])
      select.appendChild(el("option", { value, textContent: text }));
    return select;
  }
  const box = el("input", { placeholder: option.default });
  if (option.words.length) {  // an option naming a file: its words, or an uploaded file's name
    const words = el("datalist", { id: "words-" + option.name },
      ...option.words.map((word) => el("option", { value: word })));
    box.setAttribute("list", words.id);
    box.words = words;
  }
  return box;
}

function field(option) {
  const control = input(option);
  Object.assign(control, { name: option.name, id: "option-" + option.name });
  control.dataset.option = option.name;
  const help = el("span", { className: "help", id: "help-" + option.name,
                            textContent: option.help + (option.allowed ? ` (${option.allowed})` : "") });
  control.setAttribute("aria-describedby", help.id);
  const error = el("span", { className: "error" });
  error.dataset.errorFor = option.name;
  return el("div", { className: "option" }, el("label", { textContent: option.label }, control, control.words),
            help, error);
}

export function buildForm(schema) {
  const groups = new Map(schema.groups.map((group) => [group.title, el("fieldset", {},
    el("legend", { textContent: group.title }), el("p", { className: "help", textContent: group.explains }))]));
  for (const option of schema.options) {
    if (option.everyday) $("everyday").appendChild(field(option));
    else groups.get(option.group).appendChild(field(option));
  }
  for (const group of groups.values()) if (group.querySelector(".option")) $("advanced").appendChild(group);
  for (const recipe of schema.recipes)
    $("recipe").appendChild(el("option", { value: recipe.name, textContent: recipe.name }));
  const explain = () => {
    const recipe = schema.recipes.find((item) => item.name === $("recipe").value);
    $("recipe-words").textContent = recipe ? recipe.explains : "";
  };
  $("recipe").addEventListener("change", explain);
  restore();
  explain();
  $("form").addEventListener("change", save);
}

export function formOptions() {
  const options = {};
  document.querySelectorAll("[data-option]").forEach((control) => {
    if (control.value !== "") options[control.dataset.option] = control.value;
  });
  return options;
}

export function fillOptions(options) {
  document.querySelectorAll("[data-option]").forEach((control) => { control.value = ""; });
  for (const [name, value] of Object.entries(options)) {
    const control = $("option-" + name);
    if (control) control.value = value;
  }
  save();
}

function save() {
  localStorage.setItem(SAVED, JSON.stringify({ options: formOptions(), recipe: $("recipe").value }));
}

function restore() {
  try {
    const saved = JSON.parse(localStorage.getItem(SAVED) || "{}");
    for (const [name, value] of Object.entries(saved.options || {})) {
      const control = $("option-" + name);
      if (control) control.value = value;
    }
    if (saved.recipe && state.schema.recipes.some((recipe) => recipe.name === saved.recipe)) $("recipe").value = saved.recipe;
  } catch (problem) { localStorage.removeItem(SAVED); }
}
