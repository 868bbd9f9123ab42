/** The two drawings, as inline SVG: a job's recent runs, and a run's task timeline. */

import { duration, outcomeClasses, s } from "./dom.js";
import { isFinal, resultOf } from "./client.js";

/** How long a run took, or has been going. */
export function runDuration(run, now = Date.now()) {
  if (run.run_duration > 0) return run.run_duration;
  if (!run.start_time) return 0;
  return (run.end_time || now) - run.start_time;
}

/** Bars of the last runs (oldest left), height by duration, coloured by outcome. */
export function recentRunsChart(key, runs, now = Date.now()) {
  const shown = runs.slice(0, 20).reverse();
  const width = 300;
  const height = 48;
  const slot = width / 20;
  const longest = Math.max(1, ...shown.map((run) => runDuration(run, now)));
  const counts = {};
  for (const run of shown) {
    const outcome = resultOf(run) ?? run.state?.life_cycle_state ?? "?";
    counts[outcome] = (counts[outcome] ?? 0) + 1;
  }
  const summary = Object.entries(counts)
    .map(([outcome, n]) => `${n} ${outcome}`)
    .join(", ");
  const label = shown.length
    ? `Last ${shown.length} runs of ${key}: ${summary}`
    : `No runs of ${key} yet`;
  return s(
    "svg",
    { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label,
      preserveAspectRatio: "none" },
    s("line", { class: "axis", x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }),
    shown.map((run, i) => {
      const ms = runDuration(run, now);
      const barHeight = Math.max(3, (ms / longest) * (height - 4));
      const state = run.state?.life_cycle_state;
      return s(
        "rect",
        {
          class: `bar ${outcomeClasses(state, resultOf(run))}`,
          "data-run-id": run.run_id,
          x: i * slot + 1,
          y: height - 1 - barHeight,
          width: slot - 2,
          height: barHeight,
          rx: 1.5,
        },
        s("title", {}, `Run ${run.run_id}: ${resultOf(run) ?? state}, ${duration(ms)}`),
      );
    }),
  );
}

/** A bar per task from its start to its end (or now), growing as the run goes. */
export function taskTimeline(run, now = Date.now()) {
  const tasks = run.tasks ?? [];
  const started = tasks.filter((task) => task.start_time > 0);
  const begin = Math.min(run.start_time || now, ...started.map((task) => task.start_time));
  const finished = isFinal(run.state?.life_cycle_state) && run.end_time > 0;
  const end = Math.max(begin + 1000, finished ? run.end_time : now);
  const row = 22;
  const labelWidth = 110;
  const width = 600;
  const scale = (width - labelWidth - 10) / (end - begin);
  return s(
    "svg",
    { class: "timeline", viewBox: `0 0 ${width} ${tasks.length * row + 4}`, role: "img",
      "aria-label": `Task timeline of run ${run.run_id}` },
    tasks.map((task, i) => {
      const state = task.state?.life_cycle_state;
      const result = resultOf(task);
      const y = i * row + 2;
      const label = s("text", { x: 0, y: y + 14 }, task.task_key);
      if (!(task.start_time > 0) || state === "PENDING" || state === "BLOCKED") {
        return s("g", { "data-task": task.task_key, "data-state": state ?? "" }, label);
      }
      const stop = task.end_time > 0 ? task.end_time : now;
      const x = labelWidth + (task.start_time - begin) * scale;
      return s(
        "g",
        { "data-task": task.task_key, "data-state": state ?? "" },
        label,
        s(
          "rect",
          {
            class: `bar ${outcomeClasses(state, result)}`,
            x,
            y,
            width: Math.max(2, (stop - task.start_time) * scale),
            height: row - 6,
            rx: 3,
          },
          s("title", {}, `${task.task_key}: ${result ?? state}, ${duration(stop - task.start_time)}`),
        ),
      );
    }),
  );
}
