// The studio's HTTP API (nst_ort/studio/app.py), as the page calls it: every request carries the
// token a LAN studio needs; an error comes back as { message, field }.

const token = new URLSearchParams(location.search).get("token");

export function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
}

export async function api(method, url, body) {
  const response = await fetch(withToken(url), { method, body });
  const data = response.status === 204 ? {} : await response.json();
  if (!response.ok) throw Object.assign(new Error(data.error || response.statusText), { field: data.field });
  return data;
}

export const postJson = (url, body) => api("POST", url, JSON.stringify(body));

export const runImage = (id, stamp) => withToken(`/api/runs/${id}/image${stamp === undefined ? "" : "?t=" + stamp}`);

export const runInput = (id, name) => withToken(`/api/runs/${id}/inputs/${encodeURIComponent(name)}`);
