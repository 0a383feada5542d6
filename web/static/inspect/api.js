// The HTTP API of the same server (see the field API contract). Same-origin only, with the
// session cookie; every error body is {error, message, message_en, field}.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message_en || body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// The request never reached the server (offline, connection refused, timeout).
export class NetworkError extends Error {}

// Listeners told whether the last request reached the server (for the online indicator).
const reachability = new Set();
export function onReachability(listener) {
  reachability.add(listener);
}
function reached(ok) {
  for (const listener of reachability) listener(ok);
}

async function request(method, path, { json, form, body, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (form !== undefined) {
    payload = new URLSearchParams(form);
  }
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: payload, credentials: "same-origin", cache: "no-store",
    });
  } catch (error) {
    reached(false);
    throw new NetworkError(error.message);
  }
  reached(true);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const me = () => request("GET", "/auth/me");
export const login = (username, password) =>
  request("POST", "/login", { form: { username, password } });
export const logout = () => request("POST", "/logout");

export function findNear(lon, lat, radiusM) {
  const query = new URLSearchParams({
    near: `${lon},${lat}`, crs: "EPSG:4326", radius_m: String(radiusM), limit: "30",
  });
  return request("GET", `/assets?${query}`, { accept: "application/geo+json, application/json" });
}

export function search(text) {
  const query = new URLSearchParams({ q: text, limit: "30" });
  return request("GET", `/assets?${query}`, { accept: "application/geo+json, application/json" });
}

export const asset = (id) =>
  request("GET", `/assets/${encodeURIComponent(id)}`, {
    accept: "application/geo+json, application/json",
  });

export const history = (id) =>
  request("GET", `/assets/${encodeURIComponent(id)}/history?limit=50`);

export function uploadPhoto(blob, name) {
  const data = new FormData();
  data.append("file", blob, name);
  return request("POST", "/photos", { body: data });
}

export const sync = (reports) => request("POST", "/sync", { json: { reports } });
