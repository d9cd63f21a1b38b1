// Embeddings: texts (and images) -> cosine similarity matrix as a heat map (numbers shown, colour as a help).
import { $, action, api, el, fileMark, readBase64, showCurl } from "./api.js";

const embeds = (model) => (model.tasks || []).some((task) => task.includes("embed"));

async function pickModels() {
  const { data } = await api("GET", "/v1/models");
  return { text: data.find((m) => m.modality === "text" && embeds(m)), image: data.find((m) => m.modality === "image" && embeds(m)) };
}

async function embed(model, modality, inputs, curlInputs) {
  const body = { model: model.id, input: inputs, ...(modality === "text" ? {} : { modality }) };
  showCurl("POST", "/v1/embeddings", { json: { ...body, input: curlInputs } });
  const answer = await api("POST", "/v1/embeddings", { json: body });
  return answer.data.sort((a, b) => a.index - b.index).map((entry) => entry.embedding);
}

function cosine(a, b) {
  let dot = 0; let na = 0; let nb = 0;
  for (let i = 0; i < a.length; i += 1) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return dot / (Math.sqrt(na * nb) || 1);
}

function heatMap(title, labels, vectors) {
  const shade = (value) => `hsl(${210 - 210 * Math.max(0, value)}, 80%, ${92 - 40 * Math.max(0, value)}%)`;
  const header = el("tr", {}, el("th", { scope: "col", text: "" }), ...labels.map((l) => el("th", { scope: "col", text: l })));
  const rows = vectors.map((row, i) => el("tr", {}, el("th", { scope: "row", text: labels[i] }),
    ...vectors.map((column) => {
      const value = cosine(row, column);
      const cell = el("td", { text: value.toFixed(2) });
      cell.style.background = shade(value);
      return cell;
    })));
  return el("table", { class: "heat" }, el("caption", { text: title }), el("thead", {}, header), el("tbody", {}, ...rows));
}

export function setupEmbeddings() {
  action($("#embeddings-form"), async () => {
    const texts = $("#embeddings-texts").value.split("\n").map((t) => t.trim()).filter(Boolean);
    const images = [...$("#embeddings-images").files];
    const models = await pickModels();
    const groups = [];
    if (texts.length && models.text) {
      groups.push({ model: models.text, labels: texts.map((t) => t.slice(0, 30)), vectors: await embed(models.text, "text", texts, texts) });
    }
    if (images.length) {
      if (!models.image) throw new Error("no image embedding model is served");
      const data = await Promise.all(images.map(readBase64));
      const vectors = await embed(models.image, "image", data, images.map((f) => fileMark(f.name)));
      groups.push({ model: models.image, labels: images.map((f) => f.name), vectors });
    }
    // Vectors compare only within one embedding space: one matrix per space.
    const bySpace = new Map();
    for (const group of groups) {
      const key = group.model.space || group.model.id;
      const merged = bySpace.get(key) || { models: [], labels: [], vectors: [] };
      merged.models.push(group.model.id); merged.labels.push(...group.labels); merged.vectors.push(...group.vectors);
      bySpace.set(key, merged);
    }
    $("#embeddings-results").replaceChildren(...[...bySpace.entries()].map(([space, group]) =>
      heatMap(`Cosine similarity in space ${space} (${group.models.join(", ")})`, group.labels, group.vectors)));
  });
}
