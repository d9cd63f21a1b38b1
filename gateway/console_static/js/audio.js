// Audio: upload or record, then a transcript with timestamps, SRT/VTT downloads, and jobs for long recordings.
import { $, action, api, el, jobs, showCurl, waitJob } from "./api.js";

let recorded = null;

function setupRecorder() {
  const button = $("#record");
  let recorder = null;
  if (!navigator.mediaDevices || !window.MediaRecorder) { button.hidden = true; return; }
  button.addEventListener("click", async () => {
    if (recorder && recorder.state === "recording") { recorder.stop(); return; }
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (event) => chunks.push(event.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((track) => track.stop());
      recorded = new File(chunks, "recording.webm", { type: recorder.mimeType || "audio/webm" });
      const player = $("#audio-player");
      player.src = URL.createObjectURL(recorded);
      player.hidden = false;
      button.textContent = "Record";
    };
    recorder.start();
    button.textContent = "Stop recording";
  });
}

function fields(format) {
  const list = [["response_format", format]];
  const language = $("#audio-language").value.trim();
  if (language) list.push(["language", language]);
  if (format === "verbose_json") list.push(["timestamp_granularities[]", "segment"]);
  return list;
}

async function transcribe(file, format, asJob) {
  const form = new FormData();
  form.append("file", file, file.name);
  for (const [name, value] of fields(format)) form.append(name, value);
  const path = asJob ? "/v1/jobs/audio/transcriptions" : "/v1/audio/transcriptions";
  showCurl("POST", path, { files: [["file", file.name]], fields: fields(format) });
  if (!asJob) return api("POST", path, { form });
  const job = await api("POST", path, { form });
  jobs.add(job.id, `transcribe ${file.name} (${format})`);
  await waitJob(job.id, (state) => { $("#audio-status").textContent = `Job ${job.id}: ${state.status}`; });
  return api("GET", `/v1/jobs/${job.id}/result`);
}

function showSegments(transcript) {
  const table = $("#audio-segments");
  table.tBodies[0].replaceChildren(...transcript.segments.map((segment) => el("tr", {},
    el("td", { text: segment.start.toFixed(2) }), el("td", { text: segment.end.toFixed(2) }),
    el("td", { text: segment.text.trim() }))));
  table.hidden = false;
}

function downloadButton(file, format) {
  return el("button", { type: "button", onclick: async () => {
    const text = await transcribe(file, format, false);
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/plain" })),
      download: `${file.name.replace(/\.[^.]+$/, "")}.${format}` });
    document.body.append(link);
    link.click();
    link.remove();
  } }, `Download ${format.toUpperCase()}`);
}

export function setupAudio() {
  setupRecorder();
  action($("#audio-form"), async () => {
    const file = $("#audio-file").files[0] || recorded;
    if (!file) throw new Error("choose an audio file or record one");
    $("#audio-status").textContent = "Transcribing...";
    const transcript = await transcribe(file, "verbose_json", $("#audio-job").checked);
    $("#audio-status").textContent = `Language ${transcript.language || "?"}, ${transcript.duration.toFixed(1)} s: ${transcript.text}`;
    showSegments(transcript);
    $("#audio-downloads").replaceChildren(downloadButton(file, "srt"), " ", downloadButton(file, "vtt"));
  });
}
