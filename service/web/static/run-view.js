/** The run view: one run, live, in words; its facts, timeline and tasks, and what may be done. */

import { isFinal } from "./client.js";
import { taskTimeline } from "./charts.js";
import { confirmAction } from "./confirm.js";
import { duration, h, webLink } from "./dom.js";
import { runState, stateBadge } from "./states.js";
import { TaskTable, outputText } from "./task-table.js";

/** A start time in full: "14:03:05, 29/11/2026" (the reader's locale). */
function when(ms) {
  if (!(ms > 0)) return "—";
  const at = new Date(ms);
  return `${at.toLocaleTimeString()}, ${at.toLocaleDateString()}`;
}

/** `[name, value]` of a run's parameters: its job parameters, else the task-type fields. */
function parametersOf(run) {
  if (Array.isArray(run.job_parameters) && run.job_parameters.length) {
    return run.job_parameters.map((p) => [p.name, p.value ?? p.default ?? ""]);
  }
  const pairs = [];
  for (const value of Object.values(run.overriding_parameters ?? {})) {
    if (Array.isArray(value)) pairs.push(["args", value.join(" ")]);
    else if (value && typeof value === "object") pairs.push(...Object.entries(value).map(([k, v]) => [k, String(v)]));
  }
  return pairs;
}

const REPAIRABLE = new Set(["failed", "canceled", "partial"]);

export class RunView {
  /**
   * `root`: the section to fill; `jobOf(key)`: the job as listed (its `canRun`, `tasks`);
   * `onUpdate(key, event)`: every update (the job's card shows it); `show(key, runId)`: open
   * another run (after Run again); `close()`: leave the view.
   */
  constructor(root, client, { jobOf, onUpdate, show, close }) {
    Object.assign(this, { root, client, jobOf, onUpdate, show, leave: close });
    this.watch = null;
    this.timer = null;
    // Drawn at the width it is shown, so its text stays 12 px on a phone: again when that changes.
    new ResizeObserver(() => {
      if (this.timelineBox && this.timelineBox.clientWidth !== this.drawnWidth) this.drawTimeline();
    }).observe(root);
  }

  /** Follow `runId` of `key` (closing any other); focus moves to its heading. */
  open(key, runId) {
    this.close();
    Object.assign(this, { key, runId, run: null, queue: null, seen: [], outputsFor: -1, lastEventId: null });
    const job = this.jobOf(key);
    this.canRun = job?.canRun ?? false;
    this.jobTasks = job?.tasks ?? [];
    this.heading = h("h2", { id: "run-title", tabindex: -1 }, `Run ${runId} of ${key}`);
    this.status = h("p", { class: "run-status", role: "status" }, "…");
    this.stateMessage = h("p", { class: "state-message", hidden: true });
    this.facts = h("dl", { class: "facts" });
    this.transitions = h("ol", { class: "transitions", "aria-label": "States seen" });
    this.error = h("p", { class: "form-error", role: "alert" });
    this.repairs = h("section", { class: "repairs", "aria-labelledby": "repairs-title", hidden: true });
    this.timelineBox = h("div", { class: "timeline-box" });
    this.table = new TaskTable("run", () => this.showActions());
    const button = (label, onclick, cls = "") => h("button", { type: "button", class: cls, hidden: true, onclick }, label);
    this.repairButton = button("Repair", () => this.repair(), "primary");
    this.againButton = button("Run again", () => this.runAgain());
    this.cancelButton = button("Cancel", () => this.cancel(), "danger");
    this.link = h("a", { target: "_blank", rel: "noopener", hidden: true }, "Open in Databricks");
    const closeButton = h("button", { type: "button", class: "small", onclick: () => this.leave() }, "Close");
    this.root.replaceChildren(
      h("div", { class: "run-head" }, this.heading, closeButton),
      this.status, this.stateMessage,
      h("div", { class: "run-actions" }, this.repairButton, this.againButton, this.cancelButton, this.link),
      this.error, this.facts, this.transitions, this.repairs,
      h("h3", {}, "Timeline"), this.timelineBox, this.table.element);
    this.root.hidden = false;
    // In sight on any screen, and where a keyboard or screen reader user goes on from.
    this.heading.focus({ preventScroll: true });
    this.root.scrollIntoView({ block: "start" });
    // A reload resumes after the last event this tab saw (the service replays what came since),
    // with the states seen before shown again: no gap and nothing twice.
    this.memoryKey = `jobs-sidecar:run:${key}/${runId}`;
    const remembered = this.recall();
    for (const label of remembered.seen) this.addSeen(label);
    this.follow(remembered.lastEventId ?? undefined);
    if (remembered.lastEventId) {
      // The stream sends only what changes from now on: show the run as it is meanwhile.
      if (remembered.state) this.status.replaceChildren(stateBadge(remembered.state));
      this.load(key, runId, { unlessFollowed: true });
    }
  }

  /** Watch the run from after `lastEventId` (its start when none). */
  follow(lastEventId) {
    this.watch?.close();
    const { key, runId } = this;
    const watch = this.client.watch(key, runId, (event) => this.handle(event), { lastEventId });
    this.watch = watch;
    clearInterval(this.timer);
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
    return { seen: [], lastEventId: null, state: null };
  }

  remember() {
    try {
      const { seen, lastEventId, state } = this;
      sessionStorage.setItem(this.memoryKey, JSON.stringify({ seen, lastEventId, state }));
    } catch {
      // Storage full or refused: a reload then starts from the run's current state.
    }
  }

  /** Show the run as runs/get has it; `unlessFollowed`: unless an event has come meanwhile. */
  async load(key, runId, { unlessFollowed = false } = {}) {
    try {
      const run = await this.client.run(key, runId);
      if (unlessFollowed && this.run) return;
      if (this.runId === runId) this.handle({ type: "update", id: null, status: run.state.life_cycle_state, result: run.result, run });
    } catch (error) {
      if (this.runId === runId) this.error.textContent = `${error.message} (${error.code})`;
    }
  }

  addSeen(label) {
    this.seen.push(label);
    this.transitions.append(h("li", {}, label));
  }

  close() {
    this.watch?.close();
    this.watch = null;
    clearInterval(this.timer);
    this.timer = null;
    this.root.hidden = true;
    this.root.replaceChildren();
    this.runId = null;
  }

  handle(event) {
    if (event.type === "error") {
      this.error.textContent = `${event.error.message} (${event.error.code})`;
      this.cancelButton.hidden = true;
      clearInterval(this.timer);
      return;
    }
    this.run = event.run;
    this.queue = event.queue ?? null;
    this.state = runState(event.status, event.result, { run: event.run, queue: event.queue });
    if (this.seen.at(-1) !== this.state.words) this.addSeen(this.state.words);
    this.status.replaceChildren(stateBadge(this.state));
    if (event.id) {
      this.lastEventId = event.id;
      this.remember();
    }
    const why = [event.run.state?.state_message, this.state.reason].filter(Boolean);
    this.stateMessage.textContent = [...new Set(why)].join(" ");
    this.stateMessage.hidden = !why.length;
    const link = webLink(event.run.run_page_url);
    if (link) {
      this.link.href = link;
      this.link.hidden = false;
    }
    const final = isFinal(event.status);
    this.table.update(event.run, this.jobTasks, this.canRun && final && REPAIRABLE.has(this.state.kind));
    this.showActions();
    this.tick();
    this.onUpdate(this.key, event);
    if (final) {
      clearInterval(this.timer);
      this.loadHistory();
    }
    // Each task's output as soon as it has finished, and all of them when the run has.
    const done = (event.run.tasks ?? []).filter((task) => isFinal(task.state?.life_cycle_state)).length;
    if (final || done > this.outputsFor) {
      this.outputsFor = done;
      this.loadOutputs();
    }
  }

  showActions() {
    const final = isFinal(this.run?.state?.life_cycle_state);
    this.cancelButton.hidden = !this.canRun || !this.run || final;
    this.againButton.hidden = !this.canRun || !final;
    this.repairButton.hidden = !this.canRun || !final || !REPAIRABLE.has(this.state?.kind);
    const ticked = this.table.tickedTasks();
    this.repairButton.textContent = ticked.length ? `Repair ticked tasks (${ticked.length})` : "Repair failed tasks";
  }

  tick() {
    const run = this.run;
    if (!run) return;
    const end = isFinal(run.state?.life_cycle_state) && run.end_time > 0 ? run.end_time : Date.now();
    const fact = (term, value) => h("div", {}, h("dt", {}, term), h("dd", {}, value));
    const params = parametersOf(run);
    this.facts.replaceChildren(
      fact("Started by", run.creator_user_name ?? "—"),
      fact("Started", when(run.start_time)),
      fact(isFinal(run.state?.life_cycle_state) ? "Took" : "Elapsed", run.start_time ? duration(end - run.start_time) : "—"),
      fact("Parameters", params.length
        ? h("ul", { class: "params" }, params.map(([name, value]) => h("li", {}, h("code", {}, name), " = ", value)))
        : "none"));
    this.drawTimeline();
  }

  drawTimeline() {
    if (!this.run || this.root.hidden) return;
    this.drawnWidth = this.timelineBox.clientWidth;
    const width = Math.max(260, Math.min(900, this.drawnWidth || 600));
    this.timelineBox.replaceChildren(taskTimeline(this.run, this.jobTasks, width));
  }

  /** The outputs of the tasks that have finished; a later call's answer wins. */
  async loadOutputs() {
    const { key, runId } = this;
    this.outputCalls = (this.outputCalls ?? 0) + 1;
    const call = this.outputCalls;
    try {
      const output = await this.client.output(key, runId);
      if (this.runId !== runId || this.outputCalls !== call) return;
      const only = this.run?.tasks?.length === 1 ? this.run.tasks[0] : null;
      const all = output.tasks ?? (only ? [{ task_key: only.task_key, run_id: only.run_id, output }] : []);
      this.table.setOutputs(all.map((task) => [task.task_key, {
        run_id: task.run_id, text: outputText(task.output), failed: Boolean(task.output?.error),
      }]));
    } catch (error) {
      if (this.runId === runId) this.error.textContent = `No output: ${error.message}`;
    }
  }

  /** The original run and each repair, once the run has been repaired. */
  async loadHistory() {
    const { key, runId } = this;
    let run;
    try {
      run = await this.client.run(key, runId, { history: true });
    } catch {
      return; // the view shows the run without its history
    }
    if (this.runId !== runId) return;
    const items = run.repair_history ?? [];
    this.repairs.hidden = items.length < 2;
    this.repairs.replaceChildren(h("h3", { id: "repairs-title" }, "Repair history"),
      h("ol", {}, items.map((item) => {
        const state = runState(item.state?.life_cycle_state, item.state?.result_state ?? null);
        const name = item.type === "REPAIR" ? `Repair ${item.id}` : "Original run";
        const took = item.end_time > 0 ? `, took ${duration(item.end_time - item.start_time)}` : "";
        return h("li", {}, `${name}: `, stateBadge(state), ` — started ${when(item.start_time)}${took}`);
      })));
  }

  async act(button, busy, action) {
    const label = button.textContent;
    button.disabled = true;
    button.textContent = busy;
    this.error.textContent = "";
    try {
      await action();
    } catch (error) {
      this.error.textContent = `${error.message} (${error.code})`;
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  /** Repair the ticked tasks (and what depends on them), else every failed task; then follow. */
  repair() {
    const tasks = this.table.tickedTasks();
    return this.act(this.repairButton, "Repairing…", async () => {
      await this.client.repair(this.key, this.runId, tasks.length ? { tasks, rerunDependents: true } : {});
      this.table.ticked.clear();
      this.follow(this.lastEventId ?? undefined);
    });
  }

  runAgain() {
    return this.act(this.againButton, "Starting…", async () => {
      const { runId } = await this.client.rerun(this.key, this.runId);
      this.show(this.key, runId);
    });
  }

  async cancel() {
    const sure = await confirmAction({
      title: `Cancel run ${this.runId} of ${this.key}?`,
      text: "Its tasks that have not finished stop, and the run ends as canceled.",
      confirm: "Cancel run",
      dismiss: "Keep running",
    });
    if (sure) await this.act(this.cancelButton, "Cancelling…", () => this.client.cancel(this.key, this.runId));
  }
}
