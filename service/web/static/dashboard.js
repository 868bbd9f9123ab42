/** The dashboard: every job the caller may view, its form, its recent runs, and the run view. */

import { createClient, isFinal, resultOf } from "./client.js";
import { recentRunsChart, runDuration } from "./charts.js";
import { duration, h } from "./dom.js";
import { runForm } from "./form.js";
import { RunView } from "./run-view.js";

const REFRESH_MS = 5000; // the latest runs of every job, while the page is visible
const client = createClient();
const cards = new Map();

/** `#run=<key>/<runId>`: the run on view, kept in the URL so a reload resumes it. */
function runInHash() {
  const match = /^#run=([^/]+)\/(\d+)$/.exec(location.hash);
  return match ? { key: decodeURIComponent(match[1]), runId: Number(match[2]) } : null;
}

function showRun(key, runId) {
  location.hash = `run=${encodeURIComponent(key)}/${runId}`;
}

function notice(message) {
  const element = document.getElementById("notice");
  element.textContent = message;
  element.hidden = !message;
}

/** One job's section: its header, latest run, chart, form and history. */
function jobCard(job, index) {
  const titleId = `job-${index}`;
  const latest = h("span", { class: "state" }, "—");
  const latestResult = h("span", { class: "result" });
  const chart = h("div", { class: "chart-box" });
  const history = h("tbody");
  let form = null;
  if (!job.configured) {
    form = h("p", { class: "muted" }, "Not configured: no job id for this key.");
  } else if (job.canRun) {
    form = runForm(job, async (params) => {
      const { runId } = await client.trigger(job.key, params);
      showRun(job.key, runId);
      refresh(job.key);
    }).element;
  } else {
    form = h("p", { class: "muted" }, "You may view this job but not run it.");
  }
  const element = h("section", { class: "job", "aria-labelledby": titleId, "data-job": job.key },
    h("header", {}, h("h2", { id: titleId }, job.key), h("span", { class: "tag" }, job.taskType),
      job.runAs === "user" ? h("span", { class: "tag" }, "runs as you") : null),
    h("p", { class: "latest" }, "Latest run: ", latest, " ", latestResult),
    chart, form,
    h("details", { class: "history" }, h("summary", {}, "Run history"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Run", "Start", "Duration", "Result", "By"].map((t) => h("th", { scope: "col" }, t)))), history)));
  return { job, element, latest, latestResult, chart, history, latestRunId: null };
}

function showLatest(card, status, result) {
  card.latest.textContent = status ?? "never run";
  card.latest.className = status ? `state state-${status}` : "state";
  card.latestResult.textContent = result ?? "";
  card.latestResult.className = result ? `result result-${result}` : "result";
}

/** A start time: the time of day for today's runs, else the date. */
function started(ms) {
  if (!ms) return "—";
  const when = new Date(ms);
  const today = when.toDateString() === new Date().toDateString();
  return today ? when.toLocaleTimeString() : when.toLocaleDateString();
}

function showRuns(card, runs) {
  const now = Date.now();
  card.chart.replaceChildren(recentRunsChart(card.job.key, runs, now));
  card.history.replaceChildren(...runs.map((run) => {
    const state = run.state?.life_cycle_state;
    return h("tr", { "data-run-id": run.run_id },
      h("td", {}, h("a", { href: `#run=${encodeURIComponent(card.job.key)}/${run.run_id}` }, String(run.run_id))),
      h("td", { title: run.start_time ? new Date(run.start_time).toString() : false }, started(run.start_time)),
      h("td", {}, duration(runDuration(run, now))),
      h("td", { class: `result result-${resultOf(run) ?? ""}` }, resultOf(run) ?? state ?? "—"),
      h("td", {}, run.creator_user_name ?? "—"));
  }));
  const newest = runs[0];
  if (newest) {
    card.latestRunId = newest.run_id;
    showLatest(card, newest.state?.life_cycle_state, resultOf(newest));
  } else {
    showLatest(card, null, null);
  }
}

async function refresh(key) {
  const card = cards.get(key);
  if (!card || !card.job.configured) return;
  try {
    showRuns(card, await client.runs(key, { limit: 20 }));
  } catch (error) {
    showLatest(card, `unavailable (${error.code})`, null);
  }
}

function refreshAll() {
  if (document.hidden) return;
  for (const key of cards.keys()) refresh(key);
}

async function start() {
  const container = document.getElementById("jobs");
  const view = new RunView(document.getElementById("run-view"), client, (key, event) => {
    const card = cards.get(key);
    if (card && (card.latestRunId == null || event.run.run_id >= card.latestRunId)) {
      showLatest(card, event.status, event.result);
    }
    if (isFinal(event.status)) refresh(key);
  });
  let jobs;
  try {
    jobs = await client.jobs();
  } catch (error) {
    notice(`Could not load the jobs: ${error.message} (${error.code})`);
    container.replaceChildren();
    container.removeAttribute("aria-busy");
    return;
  }
  container.replaceChildren(...jobs.map((job, i) => {
    const card = jobCard(job, i);
    cards.set(job.key, card);
    return card.element;
  }));
  container.removeAttribute("aria-busy");
  if (!jobs.length) container.append(h("p", { class: "muted" }, "No jobs you may view."));
  const follow = () => {
    const wanted = runInHash();
    if (!wanted) view.close();
    else if (wanted.key !== view.key || wanted.runId !== view.runId || view.root.hidden) view.open(wanted.key, wanted.runId);
  };
  addEventListener("hashchange", follow);
  follow();
  refreshAll();
  setInterval(refreshAll, REFRESH_MS);
  document.addEventListener("visibilitychange", refreshAll);
}

start();
