// Small DOM helpers shared by the page's modules.

export const $ = (id) => document.getElementById(id);

export function el(tag, properties = {}, ...children) {
  const element = Object.assign(document.createElement(tag), properties);
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

export function showError(problem) {
  // beside its control (the field an error names), else in the header
  document.querySelectorAll(".error").forEach((span) => { span.textContent = ""; });
  if (!problem) { $("message").textContent = ""; return; }
  const span = document.querySelector(`[data-error-for="${problem.field}"]`);
  if (span) span.textContent = problem.message; else $("message").textContent = problem.message;
}

export function when(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function sentName(name) {
  // a stored input's name as the artist sent it: "1_starry_night.jpg" -> "Starry night"
  const stem = name.replace(/^\d+_/, "").replace(/^mask\d+_/, "").replace(/\.[^.]+$/, "").replace(/[_-]+/g, " ").trim();
  return stem ? stem[0].toUpperCase() + stem.slice(1) : name;
}

export function title(run) {
  // "Tübingen × The Starry Night, 12:09": its photo and paintings as the artist knows them
  const named = (name) => (run.titles || {})[name] || sentName(name);
  const what = `${named(run.content)} \u00d7 ${run.styles.map(named).join(" + ")}`;
  return `${what}${run.kind === "print" ? " (print)" : ""}, ${when(run.created)}`;
}

export function hasPicture(run) {
  // a finished or stopped run has its picture; a running one its preview once an iteration is done
  return ["done", "stopped"].includes(run.status) || Boolean(run.progress && run.progress.iteration);
}
