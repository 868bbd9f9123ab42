/** Run and task states in people's words, each with a kind (colour and symbol) and the raw state. */

import { h } from "./dom.js";

const RESULTS = {
  SUCCESS: ["Succeeded", "succeeded"],
  SUCCESS_WITH_FAILURES: ["Succeeded with failures", "partial"],
  FAILED: ["Failed", "failed"],
  TIMEDOUT: ["Timed out", "failed"],
  CANCELED: ["Canceled", "canceled"],
  MAXIMUM_CONCURRENT_RUNS_REACHED: ["Skipped: max concurrent runs reached", "notrun"],
  EXCLUDED: ["Excluded", "notrun"],
  UPSTREAM_FAILED: ["Upstream failed", "notrun"],
  UPSTREAM_CANCELED: ["Upstream canceled", "notrun"],
  DISABLED: ["Disabled", "notrun"],
};
const STATES = {
  QUEUED: ["Queued", "waiting"],
  PENDING: ["Starting", "waiting"],
  BLOCKED: ["Blocked", "waiting"],
  WAITING_FOR_RETRY: ["Waiting to retry", "waiting"],
  RUNNING: ["Running", "running"],
  TERMINATING: ["Finishing", "running"],
  TERMINATED: ["Ended", "notrun"],
  SKIPPED: ["Skipped", "notrun"],
  INTERNAL_ERROR: ["Failed: internal error", "failed"],
};
const QUEUES = {
  MAX_CONCURRENT_RUNS_REACHED: "max concurrent runs reached",
  ACTIVE_RUNS_LIMIT_REACHED: "the workspace's active runs limit reached",
  ACTIVE_RUN_JOB_TASKS_LIMIT_REACHED: "the workspace's active tasks limit reached",
};

/** The symbol shown with each kind's colour, so that colour is never the only signal. */
export const GLYPHS = {
  succeeded: "✓",
  partial: "◐",
  failed: "✕",
  canceled: "⊘",
  running: "▸",
  waiting: "⋯",
  notrun: "○",
};

/** The kinds a legend lists, in its order, with their words. */
export const KINDS = [
  ["succeeded", "Succeeded"],
  ["failed", "Failed"],
  ["canceled", "Canceled"],
  ["running", "Running"],
  ["waiting", "Waiting"],
  ["notrun", "Not run"],
];

function titleCase(raw) {
  const text = String(raw).toLowerCase().replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Why a run waits in a queue, from the service's `queue` or the run's own fields. */
function queueOf(run, queue) {
  const details = run?.status?.queue_details;
  const code = queue?.code ?? details?.code ?? null;
  return { code, reason: queue?.reason ?? details?.message ?? run?.state?.queue_reason ?? null };
}

/**
 * `{words, kind, raw}` of a run: `status` its life-cycle state, `result` its result state,
 * `queue` the service's `{code, reason}` while it waits.
 */
export function runState(status, result, { run = null, queue = null } = {}) {
  const raw = [status, result].filter(Boolean).join(" ") || "UNKNOWN";
  // Databricks ends a multi-task run whose task failed INTERNAL_ERROR with result FAILED: "Failed".
  if (status === "INTERNAL_ERROR" && !result) return { words: STATES.INTERNAL_ERROR[0], kind: "failed", raw };
  if (result && RESULTS[result]) return { words: RESULTS[result][0], kind: RESULTS[result][1], raw };
  if (result) return { words: titleCase(result), kind: "notrun", raw };
  if (status === "QUEUED") {
    const why = queueOf(run, queue);
    const words = why.code && QUEUES[why.code] ? `Queued: ${QUEUES[why.code]}` : "Queued";
    return { words, kind: "waiting", raw: why.code ? `${raw} (${why.code})` : raw, reason: why.reason };
  }
  const known = STATES[status];
  return known ? { words: known[0], kind: known[1], raw } : { words: status ? titleCase(status) : "Unknown", kind: "notrun", raw };
}

/** The state of a run object (from a list, an event or runs/get). */
export function stateOfRun(run, queue = null) {
  return runState(run?.state?.life_cycle_state, run?.result ?? run?.state?.result_state ?? null, { run, queue });
}

/**
 * `{words, kind, raw}` of one task of a run: `task` is its task run, or null when the run has
 * none for it (not created yet, or never); `runEnded` whether the run has ended.
 */
export function taskState(task, runEnded) {
  const status = task?.state?.life_cycle_state;
  const result = task?.state?.result_state ?? null;
  if (!task) return { words: runEnded ? "Not run" : "Not run yet", kind: "notrun", raw: "NO TASK RUN" };
  const started = task.start_time > 0;
  if (!result && !started && ["PENDING", "BLOCKED", "QUEUED", undefined].includes(status)) {
    return { words: runEnded ? "Not run" : "Not run yet", kind: runEnded ? "notrun" : "waiting", raw: status ?? "PENDING" };
  }
  return runState(status, result);
}

/**
 * A state in words, with its kind's colour and symbol (drawn by the style sheet, hidden from
 * screen readers: the words say it), and the raw Databricks state: a tooltip on hover and on
 * focus (`focusable`), and the badge's accessible description.
 */
export function stateBadge(state, { focusable = true } = {}) {
  return h("span", {
    class: `state kind-${state.kind}`,
    tabindex: focusable ? 0 : false,
    "data-raw": state.raw,
    title: `Databricks: ${state.raw}`,
  }, state.words);
}
