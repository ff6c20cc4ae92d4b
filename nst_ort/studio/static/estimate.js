// What a run would take before Start, and a print before it is queued: in words, with a
// warning where it would take hours or most of the memory.

import { postJson } from "./api.js";
import { $, el } from "./dom.js";

function say(box, answer, what) {
  box.replaceChildren(el("span", { textContent: `${what}: ${answer.words}` }),
    ...answer.warnings.map((warning) => el("strong", { className: "warning", textContent: warning })));
}

async function photoSize(file) {
  const bitmap = await createImageBitmap(file);
  const size = { width: bitmap.width, height: bitmap.height };
  bitmap.close();
  return size;
}

export async function estimateRun(request) {
  // request: { photo (a File), paintings, masks, recipe, options, runs (a sweep's count) }
  if (!request.photo) { $("estimate").replaceChildren(); return; }
  try {
    const answer = await postJson("/api/estimate", { ...(await photoSize(request.photo)),
      styles: request.paintings || 1, masks: request.masks, recipe: request.recipe, options: request.options,
      runs: request.runs });
    say($("estimate"), answer, "This picture");
  } catch (problem) { $("estimate").textContent = problem.message; }
}

export async function estimatePrint(runId) {
  try {
    const answer = await postJson("/api/estimate", { print_of: runId, size: Number($("print-size").value),
      time_budget: $("print-budget").value, max_memory: $("print-memory").value });
    say($("print-estimate"), answer, "This print");
  } catch (problem) { $("print-estimate").textContent = problem.message; }
}
