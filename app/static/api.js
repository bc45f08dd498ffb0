// Calling the service from a browser: fetch, then turn every failure into an ApiError
// with a message a person can read. Error bodies look like
// {"error": {"status", "code", "message", "details"}, "request_id"}.

export class ApiError extends Error {
  constructor(message, { status = 0, code = "network_error", details = null, requestId = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }
}

// The API token the user entered (servers started with PADDLE_SERVE_API_TOKENS need one on
// every prediction). Kept for this tab only (sessionStorage), sent as a bearer token.
const TOKEN_KEY = "paddle-serve-api-token";

/** The token the user entered, or "". */
export function apiToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";  // storage blocked: the page still works without a token
  }
}

/** Remember the token for this tab ("" forgets it). */
export function setApiToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage blocked: nothing to remember it in
  }
}

/** fetch() a URL and return its JSON body; throw ApiError for network errors and 4xx/5xx. */
export async function callApi(url, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const token = apiToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, { ...options, headers });
  } catch (err) {
    throw new ApiError(`Could not reach the service (${err.message || "network error"}). ` +
      "Check that it is running and try again.");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.ok && body !== null) return body;
  if (response.ok) {
    throw new ApiError(`The service answered ${response.status} without a JSON body.`,
      { status: response.status, code: "bad_response" });
  }
  const err = body && typeof body === "object" ? body.error : null;
  let message = err && err.message
    ? err.message
    : `The service answered ${response.status} ${response.statusText || ""}`.trim() + ".";
  if (response.status === 401 || (response.status === 403 && token)) {
    message = response.status === 401
      ? "This server needs an API token: enter it under \"API token\" at the top of the page."
      : "The server did not accept this API token: check it under \"API token\" at the top of the page.";
    document.dispatchEvent(new CustomEvent("api-token-needed"));
  }
  throw new ApiError(message, {
    status: response.status,
    code: (err && err.code) || "http_error",
    details: (err && err.details) || null,
    requestId: (body && body.request_id) || response.headers.get("x-request-id"),
  });
}

/** POST a JSON body. */
export function postJson(url, data) {
  return callApi(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data),
  });
}

/** POST one file as the multipart field `file`. */
export function postFile(url, blob, filename) {
  const form = new FormData();
  form.append("file", blob, filename);
  return callApi(url, { method: "POST", body: form });
}

/** Show an error near what caused it (or hide the element when `error` is null). */
export function showError(element, error) {
  clear(element);
  element.hidden = !error;
  if (!error) return;
  const text = String(error.message || "Something went wrong.");
  element.append(el("span", "error-message", text.charAt(0).toUpperCase() + text.slice(1)));
  const meta = [];
  if (error.status) meta.push(`HTTP ${error.status}${error.code ? ` ${error.code}` : ""}`);
  if (error.requestId) meta.push(`request id ${error.requestId}`);
  if (meta.length) element.append(el("span", "error-meta", meta.join(" · ")));
}

/** Remove an element's children and return it. */
export function clear(element) {
  while (element.firstChild) element.removeChild(element.firstChild);
  return element;
}

/** Create an element with a class and optional text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Smooth scrolling unless the user asked for reduced motion. */
export function scrollBehavior() {
  return window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
}
