/** The run view's table named "Tasks": a row per task of the job, its output or error below it. */

import { isFinal } from "./client.js";
import { taskRows } from "./charts.js";
import { duration, h } from "./dom.js";
import { stateBadge, taskState } from "./states.js";

/** The text worth showing of one task's `runs/get-output` reply. */
export function outputText(output) {
  if (output == null) return "(no output)";
  const parts = [
    output.error,
    output.error_trace,
    output.notebook_output?.result,
    output.logs,
    output.sql_output ? JSON.stringify(output.sql_output, null, 2) : null,
    output.dbt_output ? JSON.stringify(output.dbt_output, null, 2) : null,
  ].filter((part) => typeof part === "string" && part !== "");
  return parts.length ? parts.join("\n") : "(no output)";
}

function clock(ms) {
  return ms > 0 ? new Date(ms).toLocaleTimeString() : "—";
}

export class TaskTable {
  /** `onTick()`: a task was ticked or unticked for a repair. */
  constructor(idPrefix, onTick) {
    this.idPrefix = idPrefix;
    this.onTick = onTick;
    this.ticked = new Set();
    this.open = new Set(); // tasks whose output the user has opened (or that failed)
    this.closed = new Set(); // failed tasks whose error the user has closed
    this.outputs = new Map(); // task key → {run_id, text, failed}
    this.body = h("tbody");
    this.head = h("tr");
    const titleId = `${idPrefix}-tasks`;
    this.element = h("div", { class: "tasks" },
      h("h3", { id: titleId }, "Tasks"),
      h("table", { class: "task-table", "aria-labelledby": titleId }, h("thead", {}, this.head), this.body));
  }

  /** The tasks ticked for a repair, in the table's order. */
  tickedTasks() {
    return (this.rows ?? []).filter(({ key }) => this.ticked.has(key)).map(({ key }) => key);
  }

  /** Keep the output of task runs (by task key), from the service's output reply. */
  setOutputs(byKey) {
    for (const [key, value] of byKey) this.outputs.set(key, value);
    this.render();
  }

  /** Show `run`: a row per task of `jobTasks` and of the run; `repairable`: tick boxes. */
  update(run, jobTasks, repairable) {
    this.run = run;
    this.jobTasks = jobTasks;
    this.repairable = repairable;
    if (!repairable) this.ticked.clear();
    this.render();
  }

  render() {
    if (!this.run) return;
    const ended = isFinal(this.run.state?.life_cycle_state);
    this.rows = taskRows(this.run, this.jobTasks);
    const columns = ["Task", "State", "Started", "Duration", "Attempt", "Output"];
    if (this.repairable) columns.unshift("Repair");
    this.head.replaceChildren(...columns.map((name) => h("th", { scope: "col" }, name)));
    const now = Date.now();
    // Rows are drawn anew at each change: whatever had focus in them gets it back.
    const focused = this.body.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
    this.body.replaceChildren(...this.rows.flatMap(({ key, task }) => {
      const state = taskState(task, ended);
      const ran = task?.start_time > 0;
      const done = ran && isFinal(task.state?.life_cycle_state);
      const output = this.outputs.get(key);
      const current = output && task && output.run_id === task.run_id ? output : null;
      const outputId = `${this.idPrefix}-output-${key}`;
      const shown = current && (this.open.has(key) || (current.failed && !this.closed.has(key)));
      const cells = [];
      if (this.repairable) {
        cells.push(h("td", { class: "tick" }, h("input", {
          type: "checkbox", "aria-label": `Repair ${key}`, checked: this.ticked.has(key), "data-focus": `${key}:tick`,
          onchange: (event) => {
            if (event.target.checked) this.ticked.add(key);
            else this.ticked.delete(key);
            this.onTick();
          },
        })));
      }
      const badge = stateBadge(state);
      badge.dataset.focus = `${key}:state`;
      const took = ran ? (task.end_time > 0 ? task.end_time : now) - task.start_time : null;
      cells.push(
        h("th", { scope: "row", class: "task" }, key),
        h("td", { class: "state-cell" }, badge),
        // On a phone a row is two lines, and these cells say what they are (the style sheet).
        h("td", { class: "started", "data-label": "Started" }, clock(task?.start_time)),
        h("td", { class: "took", "data-label": "Duration" }, took === null ? "—" : duration(took)),
        h("td", { class: "attempt", "data-label": "Attempt" }, ran ? String((task.attempt_number ?? 0) + 1) : "—"),
        h("td", { class: "output" }, done && current
          ? h("button", {
            type: "button", class: "small", "aria-expanded": shown ? "true" : "false", "aria-controls": outputId,
            "aria-label": `${current.failed ? "Error" : "Output"} of ${key}`, "data-focus": `${key}:output`,
            onclick: () => this.toggle(key, shown),
          }, current.failed ? "Error" : "Output")
          : h("span", { class: "muted" }, done ? "…" : "—")));
      const row = h("tr", { "data-task": key }, cells);
      if (!shown) return [row];
      const pre = h("pre", { role: "region", tabindex: 0, "aria-label": `${current.failed ? "Error" : "Output"} of ${key}`, "data-focus": `${key}:text` }, current.text);
      return [row, h("tr", { class: "output-row", id: outputId }, h("td", { colspan: columns.length }, pre))];
    }));
    if (focused) this.body.querySelector(`[data-focus="${CSS.escape(focused)}"]`)?.focus();
  }

  toggle(key, shown) {
    if (shown) {
      this.open.delete(key);
      this.closed.add(key);
    } else {
      this.open.add(key);
      this.closed.delete(key);
    }
    this.render();
  }
}
