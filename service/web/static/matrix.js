/** A job's last runs: a runs × tasks matrix coloured by state, its legend, and its figures. */

import { isFinal } from "./client.js";
import { runDuration, taskRows } from "./charts.js";
import { duration, h } from "./dom.js";
import { KINDS, stateOfRun, taskState } from "./states.js";

export const SLOTS = 20;

/** `p` (0-1) of sorted `values`, by nearest rank. */
function percentile(sorted, p) {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

/** Success rate, median and p95 duration of the finished runs among `runs`. */
export function runFigures(runs) {
  const finished = runs.filter((run) => isFinal(run.state?.life_cycle_state));
  const succeeded = finished.filter((run) => stateOfRun(run).kind === "succeeded").length;
  const took = finished.map((run) => runDuration(run)).filter((ms) => ms > 0).sort((a, b) => a - b);
  return {
    finished: finished.length,
    succeeded,
    median: took.length ? percentile(took, 0.5) : null,
    p95: took.length ? percentile(took, 0.95) : null,
  };
}

function figures(runs) {
  const { finished, succeeded, median, p95 } = runFigures(runs);
  if (!finished) return h("p", { class: "figures muted" }, "No finished run yet.");
  const rate = Math.round((100 * succeeded) / finished);
  const item = (term, value) => h("div", {}, h("dt", {}, term), h("dd", {}, value));
  return h("dl", { class: "figures", "aria-label": `Figures of the last ${finished} finished runs` },
    item("Success rate", `${rate}% (${succeeded} of ${finished})`),
    item("Median", duration(median)),
    item("p95", duration(p95)));
}

function legend() {
  return h("ul", { class: "legend", "aria-label": "Legend" },
    KINDS.map(([kind, words]) => h("li", {}, h("span", { class: `swatch kind-${kind}`, "aria-hidden": "true" }), words)));
}

/**
 * The last `SLOTS` runs of `job` (newest first in `runs`, each with its tasks) drawn oldest to
 * newest, left to right: a row per task of the job, a column per run (its header: the run's own
 * state, a link to the run), empty slots until there are 20 runs.
 */
export function runsMatrix(job, runs) {
  if (!runs.length) return h("p", { class: "muted" }, "No runs yet.");
  const shown = runs.slice(0, SLOTS).reverse();
  const keys = taskRows({ tasks: shown.flatMap((run) => run.tasks ?? []) }, job.tasks ?? []).map((r) => r.key);
  const pad = Array.from({ length: SLOTS - shown.length }, () => null);
  const slots = [...pad, ...shown];
  const head = h("tr", {}, h("th", { scope: "col", class: "task-col" }, "Run"),
    slots.map((run) => {
      if (!run) return h("td", { class: "cell empty" });
      const state = stateOfRun(run);
      const name = `Run ${run.run_id}: ${state.words}`;
      return h("th", { scope: "col", class: `cell kind-${state.kind}`, title: name },
        h("a", { href: `#run=${encodeURIComponent(job.key)}/${run.run_id}`, tabindex: -1, "aria-label": name }));
    }));
  const body = keys.map((key) => h("tr", {}, h("th", { scope: "row", class: "task-col" }, key),
    slots.map((run) => {
      if (!run) return h("td", { class: "cell empty" });
      const { task } = taskRows(run, [key]).find((row) => row.key === key);
      const state = taskState(task, isFinal(run.state?.life_cycle_state));
      return h("td", { class: `cell kind-${state.kind}`, title: `Run ${run.run_id}, ${key}: ${state.words}` },
        h("span", { class: "sr-only" }, state.words));
    })));
  const caption = shown.length ? `Last ${shown.length} runs of ${job.key} by task` : `No runs of ${job.key} yet`;
  return h("div", { class: "matrix-box" },
    h("table", { class: "matrix" }, h("caption", { class: "sr-only" }, caption), h("thead", {}, head), h("tbody", {}, body)),
    legend(), figures(runs.slice(0, SLOTS)));
}
