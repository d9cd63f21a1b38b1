// Collections: create, list, delete; upload files or a folder with per-file progress and errors; search with the
// fusion strategy and weights; results with thumbnails, per-modality scores and bridge texts.
import { $, ApiError, action, api, busy, el, fileMark, readBase64, session, showCurl } from "./api.js";

const current = () => $("#collection-select").value;
const itemsPath = (name) => `/v1/collections/${encodeURIComponent(name)}/items`;

export async function refreshCollections(select) {
  const { data } = await api("GET", "/v1/collections");
  const list = $("#collection-select");
  const keep = select || list.value;
  list.replaceChildren(...data.map((c) => el("option", { value: c.name, text: `${c.name} (${c.items ?? 0} items)` })));
  if (keep && data.some((c) => c.name === keep)) list.value = keep;
}

function modalityOf(file) {
  if (file.type.startsWith("image/")) return "image";
  if (file.type.startsWith("audio/")) return "audio";
  if (file.type.startsWith("text/") || /\.(txt|md)$/i.test(file.name)) return "text";
  return null;
}

// A 96-pixel JPEG kept in the item's metadata, so that search results can show it.
function thumbnail(file) {
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => {
      const scale = 96 / Math.max(image.naturalWidth, image.naturalHeight);
      const canvas = el("canvas");
      canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
      canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
      canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
      resolve(canvas.toDataURL("image/jpeg", 0.7));
    };
    image.onerror = () => resolve(null);
    image.src = URL.createObjectURL(file);
  });
}

async function itemOf(file, modality) {
  const id = file.webkitRelativePath || file.name;
  const metadata = { name: file.name, modality };
  if (modality === "text") return { id, text: await file.text(), metadata };
  if (modality === "image") {
    const thumb = await thumbnail(file);
    if (thumb) metadata.thumbnail = thumb;
  }
  return { id, [modality]: await readBase64(file), metadata };
}

// XMLHttpRequest, not fetch: it reports upload progress.
function postWithProgress(path, body, progress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("Authorization", `Bearer ${session.key}`);
    request.setRequestHeader("Content-Type", "application/json");
    request.upload.onprogress = (event) => { if (event.lengthComputable) progress.value = event.loaded / event.total; };
    request.onload = () => {
      let answer = null;
      try { answer = JSON.parse(request.responseText); } catch { /* not JSON */ }
      if (request.status < 400) { resolve(answer); return; }
      const error = (answer && answer.error) || {};
      reject(new ApiError(request.status, error.code || `http_${request.status}`, error.message || request.statusText));
    };
    request.onerror = () => reject(new Error("network error"));
    request.send(JSON.stringify(body));
  });
}

async function uploadOne(name, file, row) {
  const [progress, status] = [row.querySelector("progress"), row.lastChild];
  const modality = modalityOf(file);
  if (!modality) { status.textContent = `Error unsupported_type: ${file.type || "unknown type"} is not an image, audio or text`; status.className = "item-error"; return false; }
  try {
    const answer = await postWithProgress(itemsPath(name), { items: [await itemOf(file, modality)] }, progress);
    const error = answer.data[0].error;
    if (error) throw new ApiError(422, error.code, error.message);
    progress.value = 1;
    status.textContent = "added";
    return true;
  } catch (error) {
    status.textContent = error instanceof ApiError ? `Error ${error.code}: ${error.apiMessage}` : `Error: ${error.message}`;
    status.className = "item-error";
    return false;
  }
}

async function upload() {
  const name = current();
  if (!name) throw new Error("create or choose a collection first");
  const files = [...$("#upload-files").files, ...$("#upload-folder").files];
  const table = $("#upload-progress");
  const rows = files.map((file) => el("tr", {}, el("td", { text: file.webkitRelativePath || file.name }),
    el("td", {}, el("progress", { max: "1", value: "0", "aria-label": `upload of ${file.name}` })), el("td", { text: "waiting" })));
  table.tBodies[0].replaceChildren(...rows);
  table.hidden = false;
  showCurl("POST", itemsPath(name), { json: { items: files.map((f) => ({ id: f.name, [modalityOf(f) || "image"]: fileMark(f.name) })) } });
  let failed = 0;
  for (const [index, file] of files.entries()) if (!(await uploadOne(name, file, rows[index]))) failed += 1;
  await refreshCollections(name);
  $("#upload-progress caption").textContent = `Upload: ${files.length - failed} added, ${failed} failed`;
}

function weights() {
  return Object.fromEntries(["text", "image", "audio"].map((m) => [m, Number($(`#weight-${m}`).value)]));
}

async function bridgeTexts(name, id) {
  try { return (await api("GET", `${itemsPath(name)}/${encodeURIComponent(id)}`)).derived || {}; } catch { return {}; }
}

function resultRow(hit, derived) {
  const thumb = hit.metadata && hit.metadata.thumbnail
    ? el("img", { src: hit.metadata.thumbnail, alt: `thumbnail of ${hit.id}` }) : el("span", { class: "muted", text: (hit.modalities || []).join(", ") });
  const scores = Object.entries(hit.modality_scores || {}).map(([m, s]) => `${m} ${s.toFixed(3)}`).join(", ");
  const bridges = Object.entries(derived).map(([kind, text]) => el("li", { text: `${kind}: ${text}` }));
  return el("li", { class: "result" }, thumb, el("div", {},
    el("strong", { class: "result-id", text: hit.id }), el("div", { text: `score ${hit.score.toFixed(4)}${scores ? ` (${scores})` : ""}` }),
    hit.text ? el("div", { class: "muted", text: hit.text.slice(0, 200) }) : null,
    bridges.length ? el("ul", { "aria-label": "bridge texts" }, ...bridges) : null));
}

async function search() {
  const name = current();
  if (!name) throw new Error("create or choose a collection first");
  const query = {}; const curlQuery = {};
  const text = $("#search-text").value.trim();
  if (text) { query.text = text; curlQuery.text = text; }
  for (const modality of ["image", "audio"]) {
    const file = $(`#search-${modality}`).files[0];
    if (file) { query[modality] = await readBase64(file); curlQuery[modality] = fileMark(file.name); }
  }
  const strategy = $("#search-strategy").value;
  const body = { query, top_k: Number($("#search-topk").value), strategy, weights: weights(),
    ...(strategy === "late" ? { method: $("#search-method").value } : {}) };
  const path = `/v1/collections/${encodeURIComponent(name)}/search`;
  showCurl("POST", path, { json: { ...body, query: curlQuery } });
  const answer = await api("POST", path, { json: body });
  const derived = Object.entries(answer.derived || {}).map(([kind, t]) => `${kind}: ${t}`);
  $("#search-derived").replaceChildren(...(derived.length ? [el("p", { text: `Bridge texts of the query: ${derived.join("; ")}` })] : []));
  const bridges = await Promise.all(answer.data.map((hit) => bridgeTexts(name, hit.id)));
  $("#search-results").replaceChildren(...answer.data.map((hit, i) => resultRow(hit, bridges[i])));
}

export function setupCollections() {
  action($("#collection-create"), async () => {
    const name = $("#collection-name").value.trim();
    showCurl("POST", "/v1/collections", { json: { name } });
    await api("POST", "/v1/collections", { json: { name } });
    $("#collection-name").value = "";
    await refreshCollections(name);
  });
  $("#collection-refresh").addEventListener("click", () => busy($("#panel-collections"), () => refreshCollections()));
  $("#collection-delete").addEventListener("click", () => busy($("#panel-collections"), async () => {
    const name = current();
    if (!name || !window.confirm(`Delete collection ${name} and every item in it?`)) return;
    showCurl("DELETE", `/v1/collections/${encodeURIComponent(name)}`);
    await api("DELETE", `/v1/collections/${encodeURIComponent(name)}`);
    await refreshCollections();
  }));
  action($("#collection-upload"), upload);
  action($("#search-form"), search);
  for (const modality of ["text", "image", "audio"]) {
    $(`#weight-${modality}`).addEventListener("input", (event) => { $(`#weight-${modality}-out`).textContent = event.target.value; });
  }
}
