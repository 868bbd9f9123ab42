/** The Runs view: the runs of every job the caller may view, live, filtered by status, in pages. */

import { runDuration } from "./charts.js";
import { duration, h } from "./dom.js";
import { started } from "./job-card.js";
import { stateBadge, stateOfRun } from "./states.js";

const PAGE = 20;
const FETCHED = 100; // the most GET /api/runs gives (each job its 25 newest)
export const FILTERS = { all: "All", active: "Active", succeeded: "Succeeded", failed: "Failed" };
const KEEP = {
  all: () => true,
  active: () => true, // asked of the service (active=true)
  succeeded: (state) => state.kind === "succeeded" || state.kind === "partial",
  failed: (state) => state.kind === "failed",
};

export class RunsView {
  /** `root`: the section to fill; `setFilter(name)`: the filter chosen (kept in the URL). */
  constructor(root, client, setFilter) {
    Object.assign(this, { root, client, filter: "all", page: 0, runs: [] });
    this.heading = h("h2", { id: "runs-title", tabindex: -1 }, "Runs");
    this.select = h("select", { id: "runs-status", onchange: () => setFilter(this.select.value) },
      Object.entries(FILTERS).map(([value, words]) => h("option", { value }, words)));
    this.summary = h("p", { class: "muted", role: "status" });
    this.body = h("tbody");
    this.error = h("p", { class: "form-error", role: "alert" });
    this.previous = h("button", { type: "button", class: "small", onclick: () => this.turn(-1) }, "Previous page");
    this.next = h("button", { type: "button", class: "small", onclick: () => this.turn(1) }, "Next page");
    this.pageText = h("span", { class: "muted" });
    root.replaceChildren(
      h("div", { class: "runs-head" }, this.heading,
        h("div", { class: "filter" }, h("label", { for: "runs-status" }, "Status"), this.select)),
      this.summary, this.error,
      h("table", { class: "runs-table", "aria-label": "Runs" },
        h("thead", {}, h("tr", {}, ["Job", "Run", "State", "Started", "Duration", "Who"].map((t) => h("th", { scope: "col" }, t)))),
        this.body),
      h("nav", { class: "pager", "aria-label": "Pages of runs" }, this.previous, this.pageText, this.next));
  }

  /** Show the view with `filter`; focus moves to its heading. */
  open(filter) {
    const changed = filter !== this.filter;
    this.filter = FILTERS[filter] ? filter : "all";
    this.select.value = this.filter;
    if (changed) this.page = 0;
    const opening = this.root.hidden;
    this.root.hidden = false;
    if (opening) {
      this.heading.focus({ preventScroll: true });
      this.root.scrollIntoView({ block: "start" });
    }
    this.refresh();
  }

  close() {
    this.root.hidden = true;
  }

  async refresh() {
    if (this.root.hidden) return;
    const filter = this.filter;
    try {
      const runs = await this.client.allRuns({ limit: FETCHED, active: filter === "active" });
      if (filter !== this.filter) return;
      this.runs = runs.filter((run) => KEEP[filter](stateOfRun(run)));
      this.error.textContent = "";
      this.render();
    } catch (error) {
      this.error.textContent = `Could not load the runs: ${error.message} (${error.code})`;
    }
  }

  turn(by) {
    this.page += by;
    this.render();
  }

  render() {
    const pages = Math.max(1, Math.ceil(this.runs.length / PAGE));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    const shown = this.runs.slice(this.page * PAGE, (this.page + 1) * PAGE);
    const now = Date.now();
    const href = (run) => `#run=${encodeURIComponent(run.jobKey)}/${run.run_id}`;
    this.body.replaceChildren(...shown.map((run) => h("tr", {
      "data-run-id": run.run_id,
      // The whole row opens the run for a pointer; its link does for a keyboard.
      onclick: (event) => {
        if (!event.target.closest("a, [tabindex]")) location.hash = href(run).slice(1);
      },
    },
    h("td", {}, run.jobKey),
    h("td", {}, h("a", { href: href(run), "aria-label": `Run ${run.run_id} of ${run.jobKey}` }, String(run.run_id))),
    h("td", {}, stateBadge(stateOfRun(run))),
    h("td", { title: run.start_time ? new Date(run.start_time).toString() : false }, started(run.start_time)),
    h("td", {}, duration(runDuration(run, now))),
    h("td", {}, run.creator_user_name ?? "—"))));
    const words = this.filter === "all" ? "" : ` ${FILTERS[this.filter].toLowerCase()}`;
    const count = this.runs.length;
    this.summary.textContent = count
      ? `${count}${words} run${count === 1 ? "" : "s"}, newest first; showing ${this.page * PAGE + 1}–${this.page * PAGE + shown.length}.`
      : `No${words} runs.`;
    this.pageText.textContent = `Page ${this.page + 1} of ${pages}`;
    this.previous.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
  }
}
