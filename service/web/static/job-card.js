/** A job's card: its name and description, latest run, last 20 runs by task, form and history. */

import { isFinal } from "./client.js";
import { runDuration } from "./charts.js";
import { confirmAction } from "./confirm.js";
import { duration, h } from "./dom.js";
import { runForm } from "./form.js";
import { SLOTS, runsMatrix } from "./matrix.js";
import { runState, stateBadge, stateOfRun } from "./states.js";

/** A start time: the time of day for today's runs, else the date. */
export function started(ms) {
  if (!ms) return "—";
  const when = new Date(ms);
  const today = when.toDateString() === new Date().toDateString();
  return today ? when.toLocaleTimeString() : when.toLocaleDateString();
}

export class JobCard {
  /** `index`: its place on the page (for ids); `onRun(runId)`: a run was started from it. */
  constructor(job, index, client, onRun) {
    Object.assign(this, { job, client, latestRunId: null, active: 0 });
    const titleId = `job-${index}`;
    this.latest = h("span", { class: "latest-state" }, "—");
    this.matrix = h("div", { class: "matrix-slot" });
    this.history = h("tbody");
    this.cancelAll = h("button", { type: "button", class: "danger small", hidden: true, onclick: () => this.cancelAllRuns() },
      "Cancel all runs");
    this.error = h("p", { class: "form-error", role: "alert" });
    let form;
    if (!job.configured) {
      form = h("p", { class: "muted" }, "Not configured: no job id for this key.");
    } else if (job.canRun) {
      form = runForm(job, async (params) => {
        const { runId } = await client.trigger(job.key, params);
        onRun(runId);
      }).element;
    } else {
      form = h("p", { class: "muted" }, "You may view this job but not run it.");
    }
    const named = job.name && job.name !== job.key ? h("p", { class: "job-name" }, job.name) : null;
    const described = job.description ? h("p", { class: "description" }, job.description) : null;
    this.element = h("section", { class: "job", "aria-labelledby": titleId, "data-job": job.key },
      h("header", {}, h("h2", { id: titleId }, job.key), h("span", { class: "tag" }, job.taskType ?? "any task"),
        job.runAs === "user" ? h("span", { class: "tag" }, "runs as you") : null),
      named, described,
      h("div", { class: "latest-row" }, h("p", { class: "latest" }, "Latest run: ", this.latest), this.cancelAll),
      this.error, this.matrix, form,
      h("details", { class: "history" }, h("summary", {}, "Run history"),
        h("table", {}, h("caption", { class: "sr-only" }, `Run history of ${job.key}`),
          h("thead", {}, h("tr", {}, ["Run", "Start", "Duration", "State", "By"].map((t) => h("th", { scope: "col" }, t)))),
          this.history)));
  }

  /** The latest run's state, as a run event or a list says it (null: never run). */
  showLatest(state) {
    this.latest.replaceChildren(state ? stateBadge(state) : "never run");
  }

  /** From a run event of the run view: the card follows its newest run live. */
  update(event) {
    if (this.latestRunId == null || event.run.run_id >= this.latestRunId) {
      this.showLatest(runState(event.status, event.result, { run: event.run, queue: event.queue }));
    }
  }

  async refresh() {
    if (!this.job.configured) return;
    try {
      this.showRuns(await this.client.runs(this.job.key, { limit: SLOTS, tasks: true }));
    } catch (error) {
      this.latest.replaceChildren(`unavailable (${error.code})`);
    }
  }

  showRuns(runs) {
    const now = Date.now();
    const href = (run) => `#run=${encodeURIComponent(this.job.key)}/${run.run_id}`;
    this.matrix.replaceChildren(runsMatrix(this.job, runs));
    this.history.replaceChildren(...runs.map((run) => h("tr", { "data-run-id": run.run_id },
      h("td", {}, h("a", { href: href(run) }, String(run.run_id))),
      h("td", { title: run.start_time ? new Date(run.start_time).toString() : false }, started(run.start_time)),
      h("td", {}, duration(runDuration(run, now))),
      h("td", {}, stateBadge(stateOfRun(run), { focusable: false })),
      h("td", {}, run.creator_user_name ?? "—"))));
    this.latestRunId = runs[0]?.run_id ?? null;
    this.showLatest(runs[0] ? stateOfRun(runs[0]) : null);
    this.active = runs.filter((run) => !isFinal(run.state?.life_cycle_state)).length;
    this.cancelAll.hidden = !this.job.canRun || this.active === 0;
  }

  async cancelAllRuns() {
    const sure = await confirmAction({
      title: `Cancel all runs of ${this.job.key}?`,
      text: `Every run of ${this.job.key} that has not ended is canceled (${this.active} seen now).`,
      confirm: "Cancel all runs",
      dismiss: "Keep them running",
    });
    if (!sure) return;
    this.error.textContent = "";
    try {
      await this.client.cancelAll(this.job.key);
      await this.refresh();
    } catch (error) {
      this.error.textContent = `${error.message} (${error.code})`;
    }
  }
}
