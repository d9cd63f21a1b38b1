// Images: labels, OCR lines drawn on the image, captions, answers to a question (where a model serves "answer");
// one multipart request per task for all files.
import { $, ApiError, action, api, el, session, showCurl } from "./api.js";

// Shows the question field when /v1/models lists a model serving "answer" (visual question answering).
export async function refreshImageModels() {
  const row = $("#images-question-row");
  const { data } = await api("GET", "/v1/models");
  const answering = data.find((model) => (model.tasks || []).includes("answer"));
  row.dataset.model = answering ? answering.id : "";
  row.hidden = !answering;
}

function taskFields(task) {
  if (task === "classifications") return [["top_k", "5"]];
  if (task === "questions") {
    return [["model", $("#images-question-row").dataset.model], ["question", $("#images-question").value.trim()]];
  }
  return [];
}

function setupDrop(input) {
  const zone = input.closest(".drop");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    input.files = event.dataTransfer.files;
  });
}

async function runTask(task, files) {
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  const fields = taskFields(task);
  for (const [name, value] of fields) form.append(name, value);
  showCurl("POST", `/v1/images/${task}`, { files: files.map((file) => ["file", file.name]), fields });
  try {
    return await api("POST", `/v1/images/${task}`, { form });
  } catch (error) {
    // With one image, its error is the request's (param "file[0]" for an upload, "input[0]" for JSON): show it
    // on the image's card.
    const itsOwn = error instanceof ApiError && (error.param === "file[0]" || error.param === "input[0]");
    if (!itsOwn || files.length !== 1) throw error;
    return { data: [{ index: 0, error: { code: error.code, message: error.apiMessage } }] };
  }
}

function drawBoxes(canvas, image, lines) {
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  context.lineWidth = Math.max(2, image.naturalWidth / 300);
  context.strokeStyle = "#e3008c";
  for (const line of lines) {
    context.beginPath();
    line.box.forEach(([x, y], index) => (index ? context.lineTo(x, y) : context.moveTo(x, y)));
    context.closePath();
    context.stroke();
  }
}

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`${file.name} is not an image the browser can show`));
    image.src = URL.createObjectURL(file);
  });
}

const errorLine = (error) => el("p", { class: "item-error", text: `Error ${error.code}: ${error.message}` });

async function card(file, entries) {
  const canvas = el("canvas", { role: "img", "aria-label": `${file.name} with the text lines found outlined` });
  const body = el("div", {}, el("h3", { text: file.name }), canvas);
  const lines = entries.ocr && entries.ocr.lines ? entries.ocr.lines : [];
  try { drawBoxes(canvas, await loadImage(file), lines); } catch { canvas.remove(); }
  const labels = entries.classifications;
  if (labels && labels.labels) {
    body.append(el("ol", { class: "labels", "aria-label": "labels" },
      ...labels.labels.map((label) => el("li", { text: `${label.label} (${label.score.toFixed(3)})` }))));
  }
  if (entries.captions && entries.captions.caption) body.append(el("p", { text: `Caption: ${entries.captions.caption}` }));
  if (entries.questions && "answer" in entries.questions) {
    body.append(el("p", { class: "answer", text: `Answer: ${entries.questions.answer}` }));
  }
  if (lines.length) {
    body.append(el("ul", { class: "ocr", "aria-label": "text lines" },
      ...lines.map((line) => el("li", { text: `${line.text} (${line.confidence.toFixed(2)})` }))));
  }
  for (const entry of Object.values(entries)) if (entry && entry.error) body.append(errorLine(entry.error));
  return el("article", { class: "card" }, body);
}

export function setupImages() {
  const input = $("#images-files");
  setupDrop(input);
  if (session.key) refreshImageModels().catch(() => {}); // a wrong key shows its error on the first action
  action($("#images-form"), async () => {
    const files = [...input.files];
    const tasks = [...document.querySelectorAll('#images-form input[name="task"]:checked')].map((box) => box.value);
    if (!$("#images-question-row").hidden && $("#images-question").value.trim()) tasks.push("questions");
    const results = $("#images-results");
    results.replaceChildren(el("p", { text: "Working..." }));
    const perTask = {};
    try {
      for (const task of tasks) perTask[task] = await runTask(task, files);
    } finally {
      results.replaceChildren();
    }
    for (const [index, file] of files.entries()) {
      const entries = Object.fromEntries(tasks.map((task) => [task, perTask[task].data.find((e) => e.index === index)]));
      results.append(await card(file, entries));
    }
  });
}
