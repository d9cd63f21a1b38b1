// Calls to the gateway with the tab's API key, the equivalent curl command, and errors shown with their code.
const KEY = "polyserve.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, param = null) {
    super(`${message} (code ${code}, HTTP ${status})`);
    this.status = status;
    this.code = code;
    this.apiMessage = message;
    this.param = param;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
};

export const $ = (selector, root = document) => root.querySelector(selector);

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function showError(error) {
  const box = $("#error");
  if (!error) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = error instanceof ApiError ? `Error ${error.code}: ${error.apiMessage} (HTTP ${error.status})`
    : `Error: ${error.message || error}`;
}

async function errorOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const error = body && body.error;
  if (error && typeof error === "object") {
    return new ApiError(response.status, error.code || "error", error.message || "", error.param || null);
  }
  return new ApiError(response.status, `http_${response.status}`, response.statusText || "request failed");
}

// One request. `json` sends a JSON body, `form` a FormData; the answer is JSON, or text for other types.
export async function api(method, path, { json, form, query } = {}) {
  const headers = { Authorization: `Bearer ${session.key}` };
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  const url = query ? `${path}?${new URLSearchParams(query)}` : path;
  const response = await fetch(url, { method, headers, body, cache: "no-store" });
  if (!response.ok) throw await errorOf(response);
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

// ---- the equivalent curl command (the key stays a shell variable, never printed) ----
const quote = (value) => `'${String(value).replaceAll("'", "'\\''")}'`;
const FILE_MARK = /"@@file:([^@]*)@@"/g;

export function fileMark(name) { return `@@file:${name}@@`; }

export function showCurl(method, path, { json, fields = [], files = [], query } = {}) {
  const url = `"$POLYSERVE_URL${path}${query ? `?${new URLSearchParams(query)}` : ""}"`;
  const lines = [`curl -sS -X ${method} ${url}`, `  -H "Authorization: Bearer $POLYSERVE_API_KEY"`];
  for (const [name, value] of fields) lines.push(`  -F ${quote(`${name}=${value}`)}`);
  for (const [name, file] of files) lines.push(`  -F ${quote(`${name}=@${file}`)}`);
  let text = lines.join(" \\\n");
  if (json !== undefined) {
    const body = JSON.stringify(json).replace(FILE_MARK, (_, name) => `"$(base64 -w0 ${quote(name)})"`);
    text += ` \\\n  -H "Content-Type: application/json" -d @- <<EOF\n${body}\nEOF`;
  }
  $("#curl").textContent = text;
}

export function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// Disable a form's buttons while an action runs; errors land in the alert box.
export function action(form, run) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await busy(form, run);
  });
}

export async function busy(container, run) {
  const buttons = [...container.querySelectorAll("button")];
  buttons.forEach((button) => { button.disabled = true; });
  showError(null);
  try { await run(); } catch (error) { showError(error); } finally {
    buttons.forEach((button) => { button.disabled = false; });
  }
}

// ---- jobs started from this tab ----
const JOBS = "polyserve.jobs";
export const jobs = {
  list() { try { return JSON.parse(sessionStorage.getItem(JOBS) || "[]"); } catch { return []; } },
  add(id, what) { sessionStorage.setItem(JOBS, JSON.stringify([...this.list(), { id, what }])); },
};

export const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Poll a job until it is final; `onUpdate` sees each state.
export async function waitJob(id, onUpdate) {
  for (;;) {
    const job = await api("GET", `/v1/jobs/${encodeURIComponent(id)}`);
    onUpdate(job);
    if (["succeeded", "failed", "canceled"].includes(job.status)) return job;
    await sleep(1000);
  }
}
