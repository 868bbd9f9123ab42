/** The run view: one run, live from its watch stream, with its timeline, Cancel and outputs. */

import { isFinal } from "./client.js";
import { taskTimeline } from "./charts.js";
import { duration, h, webLink } from "./dom.js";

/** The text worth showing of one task's `runs/get-output` reply. */
function outputText(output) {
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

export class RunView {
  /** `root`: the section to fill; `onUpdate(key, event)`: every update (the job's card shows it). */
  constructor(root, client, onUpdate) {
    this.root = root;
    this.client = client;
    this.onUpdate = onUpdate;
    this.watch = null;
    this.timer = null;
  }

  /** Follow `runId` of `key` (closing any other); the stream replays what was missed. */
  open(key, runId) {
    this.close();
    this.key = key;
    this.runId = runId;
    this.run = null;
    this.seen = [];
    this.outputsFor = 0; // how many finished tasks the outputs shown cover
    this.state = h("span", { class: "state" }, "…");
    this.result = h("span", { class: "result" });
    this.elapsed = h("span", { class: "elapsed" }, "—");
    this.transitions = h("ol", { class: "transitions", "aria-label": "States seen" });
    this.link = h("a", { target: "_blank", rel: "noopener", hidden: true }, "Open in Databricks");
    this.cancel = h("button", { type: "button", class: "danger", hidden: true, onclick: () => this.cancelRun() }, "Cancel");
    this.error = h("p", { class: "form-error", role: "alert" });
    this.timeline = h("div", { class: "timeline-box" });
    this.outputs = h("div", { class: "outputs" });
    const closeButton = h("button", { type: "button", class: "small", onclick: () => { location.hash = ""; } }, "Close");
    this.root.replaceChildren(
      h("div", { class: "run-head" },
        h("h2", { id: "run-title" }, `Run ${runId} of ${key}`),
        h("p", { class: "run-status", role: "status", "aria-live": "polite" }, this.state, " ", this.result),
        h("span", { class: "muted" }, "elapsed ", this.elapsed),
        h("div", { class: "run-actions" }, this.link, this.cancel, closeButton)),
      this.transitions, this.error, this.timeline, this.outputs);
    this.root.hidden = false;
    // A reload resumes after the last event this tab saw (the service replays what came since),
    // with the states seen before it shown again: no gap and nothing twice.
    this.memoryKey = `jobs-sidecar:run:${key}/${runId}`;
    const remembered = this.recall();
    for (const { status, label } of remembered.seen) this.addSeen(status, label);
    if (remembered.seen.length) this.showState(remembered.seen.at(-1).status, remembered.result);
    const watch = this.client.watch(key, runId, (event) => this.handle(event), {
      lastEventId: remembered.lastEventId ?? undefined,
    });
    this.watch = watch;
    this.timer = setInterval(() => this.tick(), 1000);
    watch.done.then((last) => {
      // Nothing came (the tab had the final event already): show the run as it is now.
      if (last === null && this.watch === watch && !this.root.hidden) this.load(key, runId);
    });
  }

  recall() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(this.memoryKey) ?? "null");
      if (saved && Array.isArray(saved.seen)) return saved;
    } catch {
      // Storage refused or garbled: start afresh.
    }
    return { seen: [], lastEventId: null, result: null };
  }

  remember(lastEventId, result) {
    try {
      sessionStorage.setItem(this.memoryKey, JSON.stringify({ seen: this.seen, lastEventId, result }));
    } catch {
      // Storage full or refused: a reload then starts from the run's current state.
    }
  }

  async load(key, runId) {
    try {
      const run = await this.client.run(key, runId);
      if (this.runId === runId) this.handle({ type: "update", id: null, status: run.state.life_cycle_state, result: run.result, run });
    } catch (error) {
      if (this.runId === runId) this.error.textContent = `${error.message} (${error.code})`;
    }
  }

  addSeen(status, label) {
    this.seen.push({ status, label });
    this.transitions.append(h("li", { "data-state": status }, label));
  }

  showState(status, result) {
    this.state.textContent = status;
    this.state.className = `state state-${status}`;
    this.result.textContent = result ?? "";
    this.result.className = result ? `result result-${result}` : "result";
  }

  close() {
    this.watch?.close();
    this.watch = null;
    clearInterval(this.timer);
    this.timer = null;
    this.root.hidden = true;
    this.root.replaceChildren();
  }

  handle(event) {
    if (event.type === "error") {
      this.error.textContent = `${event.error.message} (${event.error.code})`;
      this.cancel.hidden = true;
      clearInterval(this.timer);
      return;
    }
    this.run = event.run;
    const label = event.result ? `${event.status} ${event.result}` : event.status;
    if (this.seen.at(-1)?.label !== label) this.addSeen(event.status, label);
    this.showState(event.status, event.result);
    if (event.id) this.remember(event.id, event.result);
    const link = webLink(event.run.run_page_url);
    if (link) {
      this.link.href = link;
      this.link.hidden = false;
    }
    const final = isFinal(event.status);
    this.cancel.hidden = final;
    this.tick();
    this.onUpdate(this.key, event);
    if (final) clearInterval(this.timer);
    // Each task's output as soon as it has finished, and all of them when the run has.
    const done = (event.run.tasks ?? []).filter((task) => isFinal(task.state?.life_cycle_state));
    if (final || done.length > this.outputsFor) {
      this.outputsFor = done.length;
      this.showOutputs(final ? null : new Set(done.map((task) => task.task_key)));
    }
  }

  tick() {
    const run = this.run;
    if (!run) return;
    const now = Date.now();
    const end = isFinal(run.state?.life_cycle_state) && run.end_time > 0 ? run.end_time : now;
    this.elapsed.textContent = run.start_time ? duration(end - run.start_time) : "—";
    if ((run.tasks?.length ?? 0) > 1) this.timeline.replaceChildren(taskTimeline(run, now));
  }

  async cancelRun() {
    this.cancel.disabled = true;
    this.cancel.textContent = "Cancelling…";
    try {
      await this.client.cancel(this.key, this.runId);
    } catch (error) {
      this.error.textContent = `${error.message} (${error.code})`;
      this.cancel.disabled = false;
      this.cancel.textContent = "Cancel";
    }
  }

  /** The outputs of the tasks in `only` (all when null); a later call's answer wins. */
  async showOutputs(only) {
    const { key, runId } = this;
    this.outputCalls = (this.outputCalls ?? 0) + 1;
    const call = this.outputCalls;
    const current = () => this.runId === runId && this.outputCalls === call;
    try {
      const output = await this.client.output(key, runId);
      if (!current()) return;
      const all = output.tasks ?? [{ task_key: this.run?.tasks?.[0]?.task_key ?? "output", output }];
      const tasks = only ? all.filter((task) => only.has(task.task_key)) : all;
      this.outputs.replaceChildren(
        h("h3", {}, "Output"),
        ...tasks.map((task) => h("section", { class: "task-output", "aria-label": `Output of ${task.task_key}` },
          h("h3", {}, task.task_key), h("pre", {}, outputText(task.output)))));
    } catch (error) {
      if (current()) this.outputs.replaceChildren(h("p", { class: "muted" }, `No output: ${error.message}`));
    }
  }
}
