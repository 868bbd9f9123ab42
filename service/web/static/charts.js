/** A run's task timeline: inline SVG drawn at the width it is shown, with a time axis. */

import { isFinal } from "./client.js";
import { duration, s } from "./dom.js";
import { GLYPHS, taskState } from "./states.js";

/** How long a run took, or has been going. */
export function runDuration(run, now = Date.now()) {
  if (run.run_duration > 0) return run.run_duration;
  if (!run.start_time) return 0;
  return (run.end_time || now) - run.start_time;
}

/**
 * One row per task: the job's tasks in its order (`jobTasks`, task keys), then any other task of
 * the run; each with its latest task run (after a repair, the newest attempt), or null.
 */
export function taskRows(run, jobTasks = []) {
  const latest = new Map();
  for (const task of run?.tasks ?? []) {
    const seen = latest.get(task.task_key);
    if (!seen || (task.attempt_number ?? 0) >= (seen.attempt_number ?? 0)) latest.set(task.task_key, task);
  }
  const keys = [...new Set([...jobTasks, ...latest.keys()])];
  return keys.map((key) => ({ key, task: latest.get(key) ?? null }));
}

const STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200];

/** "0 s", "45 s", "2 min", "1 min 30 s", "1 h", "1 h 30 min": a tick's offset from the start. */
function offset(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) {
    const rest = seconds % 60;
    return rest ? `${Math.floor(seconds / 60)} min ${rest} s` : `${seconds / 60} min`;
  }
  const minutes = Math.round((seconds % 3600) / 60);
  return minutes ? `${Math.floor(seconds / 3600)} h ${minutes} min` : `${seconds / 3600} h`;
}

/**
 * The timeline of `run` at `width` px: a bar per task from its start to its end (or now), its
 * state's symbol and its duration beside it; a task that did not run says so in words. Labels
 * sit left of the bars when there is room, above them when narrow; 12 px text at any width.
 */
export function taskTimeline(run, jobTasks, width, now = Date.now()) {
  const rows = taskRows(run, jobTasks);
  const ended = isFinal(run.state?.life_cycle_state);
  const starts = rows.map((r) => r.task?.start_time).filter((t) => t > 0);
  const begin = Math.min(run.start_time || now, ...starts);
  const end = Math.max(begin + 1000, ended && run.end_time > 0 ? run.end_time : now);
  const narrow = width < 480;
  const labelWidth = narrow ? 0 : 130;
  const left = labelWidth + 4;
  const right = width - 44; // room for the last tick's label
  const rowHeight = narrow ? 38 : 26;
  const barHeight = 16;
  const x = (t) => left + ((t - begin) / (end - begin)) * (right - left);
  const spanS = (end - begin) / 1000;
  const step = STEPS_S.find((candidate) => (spanS / candidate) * 70 <= right - left) ?? STEPS_S.at(-1);
  const axisY = rows.length * rowHeight + 6;
  const ticks = [];
  for (let t = 0; t <= spanS; t += step) ticks.push(t);
  return s("svg", {
    class: "timeline", width, height: axisY + 22, viewBox: `0 0 ${width} ${axisY + 22}`,
    role: "img", "aria-label": `Task timeline of run ${run.run_id}, over ${duration(end - begin)}`,
  },
  ticks.map((t) => {
    const at = x(begin + t * 1000);
    return s("g", { class: "tick" },
      s("line", { x1: at, x2: at, y1: 0, y2: axisY }),
      s("text", { x: at, y: axisY + 16, "text-anchor": t === 0 ? "start" : "middle" }, offset(t)));
  }),
  s("line", { class: "axis", x1: left, x2: right, y1: axisY, y2: axisY }),
  rows.map(({ key, task }, i) => {
    const state = taskState(task, ended);
    const top = i * rowHeight + (narrow ? 18 : 5);
    const labelY = narrow ? top - 5 : top + 12.5;
    const label = s("text", { class: "label", x: narrow ? left : 0, y: labelY }, key);
    const attrs = { "data-task": key, "data-state": task?.state?.life_cycle_state ?? "" };
    if (!(task?.start_time > 0)) {
      return s("g", attrs, label,
        s("text", { class: "not-run", x: left, y: top + 12.5 }, `${GLYPHS[state.kind]} ${state.words}`));
    }
    const stop = task.end_time > 0 ? task.end_time : now;
    const from = x(task.start_time);
    const barWidth = Math.max(3, x(stop) - from);
    const took = `${GLYPHS[state.kind]} ${duration(stop - task.start_time)}`;
    const textWidth = took.length * 7.5;
    let note; // right of the bar, else left of it, else inside its end
    if (from + barWidth + 6 + textWidth <= width) {
      note = s("text", { class: "took", x: from + barWidth + 6, y: top + 12.5 }, took);
    } else if (from - 6 - textWidth >= left) {
      note = s("text", { class: "took", x: from - 6, y: top + 12.5, "text-anchor": "end" }, took);
    } else {
      note = s("text", { class: "took inside", x: from + barWidth - 5, y: top + 12.5, "text-anchor": "end" }, took);
    }
    return s("g", attrs, label,
      s("rect", { class: `bar kind-${state.kind}`, x: from, y: top, width: barWidth, height: barHeight, rx: 3 },
        s("title", {}, `${key}: ${state.words}, ${duration(stop - task.start_time)}`)),
      note);
  }));
}
