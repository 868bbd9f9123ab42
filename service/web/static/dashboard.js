/** The dashboard: the jobs the caller may view, the runs of all of them, and one run's view. */

import { askForKey, forgetKey, keyHeaders, storedKey } from "./api-key.js";
import { createClient, isFinal } from "./client.js";
import { h } from "./dom.js";
import { JobCard } from "./job-card.js";
import { RunView } from "./run-view.js";
import { RunsView } from "./runs-view.js";

const REFRESH_MS = 5000; // what is on show, while the page is visible
const cards = new Map();

// Streams are read with fetch, which sends the API key's header (EventSource cannot): the page
// works the same in every access mode.
const clientWith = (key) => createClient({ headers: keyHeaders(key), stream: "fetch" });

/**
 * Where the page is, from its URL fragment: `#run=<key>/<runId>` (a run, over the jobs),
 * `#runs` or `#runs=<filter>` (all runs), else the jobs. Kept in the URL so a reload stays.
 */
function route() {
  const run = /^#run=([^/]+)\/(\d+)$/.exec(location.hash);
  if (run) return { view: "run", key: decodeURIComponent(run[1]), runId: Number(run[2]) };
  const runs = /^#runs(?:=(\w+))?$/.exec(location.hash);
  if (runs) return { view: "runs", filter: runs[1] ?? "all" };
  return { view: "jobs" };
}

function notice(message) {
  const element = document.getElementById("notice");
  element.textContent = message;
  element.hidden = !message;
}

/** The jobs, once the service has taken this tab's key (asked for in token mode). */
async function signIn(container) {
  let key = storedKey();
  let client = clientWith(key);
  try {
    return { client, key, jobs: await client.jobs({ describe: true }) };
  } catch (error) {
    if (error.status !== 401) throw error;
  }
  const refused = key !== null;
  forgetKey();
  container.removeAttribute("aria-busy");
  const chosen = await askForKey(container, (candidate) => {
    client = clientWith(candidate);
    return client.jobs({ describe: true });
  }, { refused });
  key = chosen.key;
  return { client, key, jobs: chosen.value };
}

function signOutButton() {
  const button = h("button", { type: "button", class: "small", onclick: () => {
    forgetKey();
    location.reload();
  } }, "Forget the API key");
  document.getElementById("account").replaceChildren(button);
}

async function start() {
  const container = document.getElementById("jobs");
  let signedIn;
  try {
    signedIn = await signIn(container);
  } catch (error) {
    notice(`Could not load the jobs: ${error.message} (${error.code})`);
    container.replaceChildren();
    container.removeAttribute("aria-busy");
    return;
  }
  const { client, key, jobs } = signedIn;
  if (key) signOutButton();
  const jobsView = document.getElementById("jobs-view");
  const show = (jobKey, runId) => {
    location.hash = `run=${encodeURIComponent(jobKey)}/${runId}`;
  };
  let returnTo = "";
  const runView = new RunView(document.getElementById("run-view"), client, {
    jobOf: (jobKey) => cards.get(jobKey)?.job,
    onUpdate: (jobKey, event) => {
      cards.get(jobKey)?.update(event);
      if (isFinal(event.status)) cards.get(jobKey)?.refresh();
    },
    show,
    close: () => {
      location.hash = returnTo;
    },
  });
  const runsView = new RunsView(document.getElementById("runs-view"), client, (filter) => {
    location.hash = filter === "all" ? "runs" : `runs=${filter}`;
  });
  container.replaceChildren(...jobs.map((job, i) => {
    const card = new JobCard(job, i, client, (runId) => {
      show(job.key, runId);
      card.refresh();
    });
    cards.set(job.key, card);
    return card.element;
  }));
  container.removeAttribute("aria-busy");
  if (!jobs.length) container.append(h("p", { class: "muted" }, "No jobs you may view."));

  let last = { view: null };
  const follow = () => {
    const where = route();
    for (const link of document.querySelectorAll("nav.views a")) {
      const current = link.dataset.view === (where.view === "runs" ? "runs" : "jobs");
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (where.view === "run") {
      if (last.view !== "run") returnTo = last.view === "runs" ? `runs${last.filter === "all" ? "" : `=${last.filter}`}` : "";
      runsView.close();
      jobsView.hidden = false;
      if (where.key !== runView.key || where.runId !== runView.runId || runView.root.hidden) runView.open(where.key, where.runId);
    } else {
      runView.close();
      runView.key = null;
      jobsView.hidden = where.view === "runs";
      if (where.view === "runs") runsView.open(where.filter);
      else runsView.close();
    }
    last = where;
  };
  addEventListener("hashchange", follow);
  follow();
  const refreshAll = () => {
    if (document.hidden) return;
    if (!jobsView.hidden) for (const card of cards.values()) card.refresh();
    runsView.refresh();
  };
  refreshAll();
  setInterval(refreshAll, REFRESH_MS);
  document.addEventListener("visibilitychange", refreshAll);
}

start();
