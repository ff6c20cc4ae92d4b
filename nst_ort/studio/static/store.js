// The page's one state: what it shows and what the artist has chosen. Modules read `state` and
// change it only through `update`, which tells every subscriber what changed.

export const state = {
  schema: null,       // the option schema, groups and recipes (GET /api/options)
  runs: [],           // the history as the server last said it, newest first
  current: null,      // the run on show (its id)
  lost: false,        // the server stopped answering
  paintings: [],      // gallery paintings chosen, by name, in the order chosen
  againFrom: null,    // "again": the earlier run whose files are used unless new ones are picked
  comparing: [],      // the runs picked for comparison (at most two)
  sweep: [],          // the runs the last "one picture per painting" made
  sweepColumns: 1,
};

const listeners = new Set();

export function update(changes) {
  Object.assign(state, changes);
  for (const listener of listeners) listener(changes);
}

export function subscribe(listener) {
  listeners.add(listener);
}
