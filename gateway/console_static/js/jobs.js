// Jobs started from this tab: status, progress, cancel, result.
import { $, api, busy, el, jobs, showCurl } from "./api.js";

function actions(job) {
  const result = el("button", { type: "button", onclick: () => busy($("#panel-jobs"), async () => {
    showCurl("GET", `/v1/jobs/${job.id}/result`);
    const answer = await api("GET", `/v1/jobs/${job.id}/result`);
    const pre = $("#job-result");
    pre.textContent = typeof answer === "string" ? answer : JSON.stringify(answer, null, 2);
    pre.hidden = false;
    pre.focus();
  }) }, "Result");
  const cancel = el("button", { type: "button", onclick: () => busy($("#panel-jobs"), async () => {
    showCurl("DELETE", `/v1/jobs/${job.id}`);
    await api("DELETE", `/v1/jobs/${job.id}`);
    await refreshJobs();
  }) }, "Cancel");
  result.disabled = job.status !== "succeeded";
  cancel.disabled = !["queued", "running"].includes(job.status);
  return el("td", {}, result, " ", cancel);
}

function statusCell(job) {
  const cell = el("td", { text: job.status });
  if (job.status === "running" || job.status === "queued") cell.append(" ", el("progress", { "aria-label": "in progress" }));
  if (job.error) cell.append(el("div", { class: "item-error", text: `Error ${job.error.code}: ${job.error.message}` }));
  return cell;
}

export async function refreshJobs() {
  const rows = [];
  for (const { id, what } of jobs.list()) {
    let job;
    try { job = await api("GET", `/v1/jobs/${encodeURIComponent(id)}`); } catch (error) {
      job = { id, status: "unknown", error: { code: error.code || "error", message: error.apiMessage || error.message } };
    }
    rows.push(el("tr", {}, el("td", { text: id }), el("td", { text: what }), statusCell(job), actions(job)));
  }
  $("#jobs-table").tBodies[0].replaceChildren(...rows);
}

export function setupJobs() {
  $("#jobs-refresh").addEventListener("click", () => busy($("#panel-jobs"), refreshJobs));
}
