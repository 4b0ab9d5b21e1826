// The one way the pages talk to the gateway: same-origin fetch with the session cookie,
// the CSRF header on unsafe methods, and errors turned into readable messages.

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The double-submit CSRF token the gateway set as a readable cookie at login. */
export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "seadragon_csrf") return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** Headers for a request the gateway will authenticate by cookie. */
export function authHeaders(method, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (UNSAFE.has(method.toUpperCase())) headers["X-CSRF-Token"] = csrfToken();
  return headers;
}

export class ApiError extends Error {
  constructor(status, message, body = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

/** The readable message of an error response ({"error": {"message"}} or FastAPI's detail). */
export async function errorFrom(response) {
  let body = null;
  let message = "";
  try {
    body = await response.json();
    message = body?.error?.message ?? (typeof body?.detail === "string" ? body.detail : "");
  } catch {
    // Not JSON (a proxy's HTML page, say): fall back to the status line.
  }
  if (!message) message = `${response.status} ${response.statusText || "error"}`.trim();
  const retry = Number.parseFloat(response.headers.get("Retry-After") ?? "");
  return new ApiError(response.status, message, body, Number.isFinite(retry) ? retry : null);
}

/** Call a JSON endpoint; resolves with the parsed body or throws ApiError. */
export async function api(method, path, body = undefined, { signal } = {}) {
  const init = { method, headers: authHeaders(method), credentials: "same-origin", signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "Cannot reach the Seadragon gateway. Is it running?");
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  return response.json();
}

/** The signed-in user, or null when not signed in. */
export async function currentUser() {
  try {
    const me = await api("GET", "/api/auth/me");
    return me.user ?? null;
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

/** Send the browser to the sign-in page, coming back here afterwards. */
export function goToLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

/** Sign out and go to the sign-in page. */
export async function logout() {
  try {
    await api("POST", "/api/auth/logout");
  } finally {
    location.assign("/login");
  }
}

/** A fresh id for X-Request-Id, so a request can be cancelled before its headers arrive. */
export function newRequestId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes); // available on plain http too, unlike randomUUID
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
