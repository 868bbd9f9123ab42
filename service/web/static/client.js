/**
 * The browser client of jobs-sidecar: list, trigger, watch, cancel and repair jobs over its HTTP
 * API.
 *
 * An ES module with no dependencies and no build step, served by the service at /client.js
 * (types at /client.d.ts). Paths are relative (`api/jobs/...`) unless `baseUrl` is given, so it
 * works at the root of a Databricks App and behind any proxy that serves the page and the API
 * together.
 *
 *   import { createClient } from "./client.js";
 *   const jobs = createClient();
 *   const { runId } = await jobs.trigger("etl", { run_date: "2026-11-29" });
 *   const watch = jobs.watch("etl", runId, (event) => console.log(event.status, event.result));
 */

/** An error from the service (or the network): `status` 0 and code `NETWORK` for the latter. */
export class JobsError extends Error {
  constructor(status, code, message, body = {}) {
    super(message);
    this.name = "JobsError";
    this.status = status;
    this.code = code;
    this.fields = Array.isArray(body.fields) ? body.fields : [];
    this.idempotencyKey = body.idempotencyKey ?? null;
    this.retryAfter = body.retryAfter ?? null;
  }
}

/** Life-cycle states after which a run changes no more. */
export const FINAL_STATES = Object.freeze(["TERMINATED", "SKIPPED", "INTERNAL_ERROR"]);

/** Whether a life-cycle state is final. */
export function isFinal(status) {
  return FINAL_STATES.includes(status);
}

/**
 * The run's outcome (SUCCESS, FAILED, CANCELED, TIMEDOUT, ...) or null while it runs, from a
 * status reply, a run event or a run: the service's top-level `result` when it sends one, else
 * the run's own `state.result_state`.
 */
export function resultOf(item) {
  if (item == null) return null;
  if (item.result !== undefined) return item.result;
  const run = item.run !== undefined ? item.run : item;
  return run?.state?.result_state ?? null;
}

/** Whether the caller may run the job (a catalog without `canRun` lets everyone run). */
export function canRun(job) {
  return job.canRun !== false;
}

// Statuses with which run-now may or may not have started a run; the body's code says which.
const UNKNOWN_OUTCOME = new Set([502, 503, 504]);
const isUnknownOutcome = (error) =>
  UNKNOWN_OUTCOME.has(error.status) && error.code === "OUTCOME_UNKNOWN";
const NO_BODY = new Set([204, 205]);

/**
 * A client. Options: `baseUrl` (default: paths relative to the page), `retries` (extra attempts
 * of a trigger whose outcome is unknown, default 3), `retryDelayMs` (first backoff, doubled each
 * time, at most 8 s; a Retry-After header wins), `credentials` (fetch's; "include" also makes
 * EventSource send cookies to another origin), `headers` (added to every request, streams
 * too), `stream` ("fetch" or "eventsource": how `watch` reads a run's events; "fetch" when
 * `headers` are given, as EventSource cannot send headers, or there is no EventSource),
 * `fetch` and `EventSource` (to replace them).
 */
export function createClient(options = {}) {
  const base = (options.baseUrl ?? "").replace(/\/+$/, "");
  const fetchImpl = options.fetch ?? ((...args) => globalThis.fetch(...args));
  const Source = options.EventSource ?? globalThis.EventSource;
  const retries = options.retries ?? 3;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const credentials = options.credentials ?? "same-origin";
  const headers = options.headers ?? {};
  const streamWith =
    options.stream ?? (Object.keys(headers).length || !Source ? "fetch" : "eventsource");

  const url = (...parts) => {
    const path = ["api", "jobs", ...parts.map((p) => encodeURIComponent(String(p)))].join("/");
    return base ? `${base}/${path}` : path;
  };

  async function call(method, target, init = {}) {
    let response;
    try {
      response = await fetchImpl(target, { method, credentials, headers, ...init });
    } catch (cause) {
      if (init.signal?.aborted) throw cause;
      throw networkError(cause);
    }
    if (!response.ok) throw await errorFrom(response);
    return NO_BODY.has(response.status) ? null : response.json();
  }

  const get = (target, signal) => call("GET", target, { signal });

  /**
   * Every job the caller may view: `{key, taskType, configured, runAs, params, canRun}`; with
   * `describe`, also `name`, `description` and `tasks` (task keys) as Databricks has them, for
   * each job whose definition could be read.
   */
  async function jobs({ describe = false, signal } = {}) {
    const reply = await get(describe ? `${url()}?describe=true` : url(), signal);
    return reply.jobs.map((job) => ({ ...job, canRun: canRun(job) }));
  }

  /**
   * Start a run: `{runId, idempotencyKey}`. Always sends an Idempotency-Key (a new UUID unless
   * given); when the outcome is unknown (the network failed, or 502/503/504 OUTCOME_UNKNOWN) it
   * tries again with the same key, so the service returns the run already started or starts
   * exactly one. Other errors are thrown at once, as a JobsError.
   */
  async function trigger(key, params = {}, { idempotencyKey, signal } = {}) {
    const { reply, idempotencyKey: sent } = await once(url(key, "run"), { params }, {
      idempotencyKey,
      signal,
    });
    return { runId: reply.runId, idempotencyKey: sent };
  }

  /**
   * Repair a finished run: run its failed tasks again (or `tasks`, and with `rerunDependents`
   * every task depending on them), in the same run: `{runId, repairId, watchUrl,
   * idempotencyKey}`. Retried as a trigger is, with the same key: one repair, whatever is lost.
   * Watch the run again with `watch(key, runId, onEvent, {lastEventId})`: it goes on from there.
   */
  async function repair(key, runId, { tasks, rerunDependents, params, idempotencyKey, signal } = {}) {
    const body = {};
    if (tasks !== undefined) body.tasks = tasks;
    if (rerunDependents) body.rerunDependents = true;
    if (params !== undefined) body.params = params;
    const { reply, idempotencyKey: sent } = await once(url(key, "runs", runId, "repair"), body, {
      idempotencyKey,
      signal,
    });
    return { ...reply, idempotencyKey: sent };
  }

  /**
   * Run a run again: a new run with the parameters that run had, `{runId, watchUrl,
   * idempotencyKey}`; retried as a trigger is, with the same key: one new run.
   */
  async function rerun(key, runId, { idempotencyKey, signal } = {}) {
    const { reply, idempotencyKey: sent } = await once(url(key, "runs", runId, "rerun"), null, {
      idempotencyKey,
      signal,
    });
    return { ...reply, idempotencyKey: sent };
  }

  // A POST that starts something once per key: retried with the same key while its outcome is
  // unknown (the network failed, or 502/503/504 OUTCOME_UNKNOWN); other errors at once.
  async function once(target, body, { idempotencyKey, signal }) {
    const idemKey = idempotencyKey ?? newKey();
    const sent = { ...headers, "Idempotency-Key": idemKey };
    if (body !== null) sent["Content-Type"] = "application/json";
    const init = { method: "POST", credentials, headers: sent, signal };
    if (body !== null) init.body = JSON.stringify(body);
    for (let attempt = 0; ; attempt += 1) {
      let error;
      try {
        const response = await fetchImpl(target, init);
        if (response.ok) return { reply: await response.json(), idempotencyKey: idemKey };
        error = await errorFrom(response);
      } catch (cause) {
        if (signal?.aborted) throw cause;
        error = networkError(cause);
      }
      const unknown = error.code === "NETWORK" || isUnknownOutcome(error);
      error.idempotencyKey = idemKey;
      if (!unknown || attempt >= retries) throw error;
      const backoff = Math.min(retryDelayMs * 2 ** attempt, 8000);
      await sleep(error.retryAfter != null ? error.retryAfter * 1000 : backoff, signal);
    }
  }

  /**
   * Follow a run live: `onEvent` gets `{type: "update", id, status, result, timestamp, run}` for
   * each change, then stops after the final one; or `{type: "error", error}` once (a JobsError,
   * e.g. WAIT_TIMEOUT or RUN_NOT_FOUND) and stops. After a drop it reconnects by itself,
   * resuming after the last event it saw (Last-Event-ID); `lastEventId` resumes a watch from an
   * earlier page. Returns `{close(), lastEventId, done}`; `done` resolves with the last event.
   * With EventSource a refused stream just ends (`done` gives the last event, or null); read
   * with fetch, a refusal is an `error` event (a 429 or 503 is tried again after Retry-After).
   */
  function watch(key, runId, onEvent, { lastEventId } = {}) {
    const target = url(key, "runs", runId, "events");
    let last = null;
    let stop = () => {};
    let settle;
    const done = new Promise((resolve) => {
      settle = resolve;
    });
    const handle = {
      lastEventId: lastEventId ?? null,
      done,
      close() {
        stop();
        settle(last);
      },
    };
    const emit = (event) => {
      last = event;
      try {
        onEvent(event);
      } finally {
        if (event.type === "error" || (event.type === "update" && isFinal(event.status))) {
          handle.close();
        }
      }
    };
    const stream = {
      message(data, id) {
        const body = JSON.parse(data);
        handle.lastEventId = id || handle.lastEventId;
        emit({ type: "update", id, ...body, result: resultOf(body) });
      },
      // The service's `event: error`: the same body as an HTTP error; the watch is over.
      error(data) {
        const body = JSON.parse(data);
        emit({ type: "error", error: new JobsError(0, body.code, body.error, body) });
      },
      refused: (error) => emit({ type: "error", error }),
      ended: () => handle.close(),
      lastEventId: () => handle.lastEventId,
    };
    stop = streamWith === "fetch" ? fetchStream(target, stream) : sourceStream(target, stream);
    return handle;
  }

  // A run's events through EventSource: the browser reconnects with Last-Event-ID by itself.
  function sourceStream(target, stream) {
    const first = stream.lastEventId();
    const resumed = first ? `${target}?lastEventId=${encodeURIComponent(first)}` : target;
    const source = new Source(resumed, { withCredentials: credentials === "include" });
    source.addEventListener("message", (message) => stream.message(message.data, message.lastEventId));
    source.addEventListener("error", (message) => {
      if (typeof message.data === "string") stream.error(message.data);
      // Refused (4xx), or 204: the client has the final event already. Nothing more comes.
      else if (source.readyState === Source.CLOSED) stream.ended();
      // Otherwise the connection dropped and the browser is reconnecting with Last-Event-ID.
    });
    return () => source.close();
  }

  // A run's events through fetch, which sends `headers` (an API key): reconnects after a drop
  // with Last-Event-ID, as EventSource would, waiting the stream's `retry` (1 s unless told).
  function fetchStream(target, stream) {
    const controller = new AbortController();
    const signal = controller.signal;
    let retryMs = 1000;
    const read = async () => {
      while (!signal.aborted) {
        const sent = { ...headers, Accept: "text/event-stream" };
        const resumeAfter = stream.lastEventId();
        if (resumeAfter) sent["Last-Event-ID"] = resumeAfter;
        let wait = retryMs;
        try {
          const response = await fetchImpl(target, { method: "GET", credentials, headers: sent, signal, cache: "no-store" });
          if (response.status === 204) return stream.ended();
          if (!response.ok) {
            const error = await errorFrom(response);
            if (!AGAIN.has(response.status)) return stream.refused(error);
            wait = error.retryAfter != null ? error.retryAfter * 1000 : wait;
          } else {
            await readEvents(response.body, signal, (event) => {
              if (event.retry >= 0) retryMs = event.retry;
              if (event.data === null) return;
              if (event.type === "message") stream.message(event.data, event.id ?? stream.lastEventId());
              else if (event.type === "error") stream.error(event.data);
            });
          }
        } catch {
          // The connection failed or dropped (or close() aborted it): try again unless closed.
        }
        if (!signal.aborted) await sleep(wait, signal).catch(() => {});
      }
    };
    read();
    return () => controller.abort();
  }

  return {
    jobs,
    trigger,
    repair,
    rerun,
    watch,
    /** The job as Databricks describes it (`jobs/get`). */
    job: (key, { signal } = {}) => get(url(key), signal),
    /** The latest run: `{status, result, run}`, `status` null when the job never ran. */
    status: async (key, { signal } = {}) => {
      const reply = await get(url(key, "status"), signal);
      return { ...reply, result: resultOf(reply) };
    },
    /** The latest runs, newest first (1-100, default 20), each with `result`; `tasks`: with
     * each run's task runs. */
    runs: async (key, { limit = 20, tasks = false, signal } = {}) => {
      const expand = tasks ? "&expand_tasks=true" : "";
      const reply = await get(`${url(key, "runs")}?limit=${limit}${expand}`, signal);
      return reply.runs.map((run) => ({ ...run, result: resultOf(run) }));
    },
    /** One run, with `result`; with `history`, its `repair_history` too (read fresh). */
    run: async (key, runId, { history = false, signal } = {}) => {
      const target = url(key, "runs", runId);
      const run = await get(history ? `${target}?include_history=true` : target, signal);
      return { ...run, result: resultOf(run) };
    },
    /** A one-task run's output, or `{tasks: [{task_key, run_id, output}]}`. */
    output: (key, runId, { signal } = {}) => get(url(key, "runs", runId, "output"), signal),
    /** Cancel a run (a finished run stays as it was). */
    cancel: async (key, runId, { signal } = {}) => {
      await call("DELETE", url(key, "runs", runId), { signal });
    },
    /** Cancel every active run of the job. */
    cancelAll: async (key, { signal } = {}) => {
      await call("DELETE", url(key, "runs"), { signal });
    },
    /**
     * The runs of every job the caller may view, newest first (1-100, default 20), each with
     * `jobKey` and `result`; `active: true` for those that have not ended only.
     */
    allRuns: async ({ limit = 20, active = false, signal } = {}) => {
      const path = `api/runs?limit=${limit}&active=${active}`;
      const reply = await get(base ? `${base}/${path}` : path, signal);
      return reply.runs.map((run) => ({ ...run, result: resultOf(run) }));
    },
  };
}

// Statuses after which a stream read with fetch is tried again (after Retry-After).
const AGAIN = new Set([429, 503]);

/**
 * Calls `onEvent({type, data, id, retry})` for each event of a text/event-stream body, as the
 * HTML standard parses them: `data` lines joined by newlines (null when none), `type` "message"
 * unless an `event` line names it, comment lines skipped. Returns when the body ends.
 */
async function readEvents(body, signal, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}));
  let buffer = "";
  let event = { type: "message", data: null, id: undefined, retry: -1 };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split("\n");
    buffer = lines.pop();
    for (const raw of lines) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line === "") {
        onEvent(event);
        event = { type: "message", data: null, id: undefined, retry: -1 };
        continue;
      }
      const colon = line.indexOf(":");
      if (colon === 0) continue;
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") event.data = event.data === null ? text : `${event.data}\n${text}`;
      else if (field === "event") event.type = text;
      else if (field === "id") event.id = text;
      else if (field === "retry" && /^\d+$/.test(text)) event.retry = Number(text);
    }
  }
}

async function errorFrom(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // Not our JSON (a proxy's page): the status says enough.
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return new JobsError(
    response.status,
    typeof body.code === "string" ? body.code : `HTTP_${response.status}`,
    typeof body.error === "string" ? body.error : `HTTP ${response.status}`,
    {
      ...body,
      idempotencyKey: body.idempotencyKey ?? response.headers.get("Idempotency-Key"),
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
    },
  );
}

/** A random UUID (v4). `crypto.randomUUID` exists only on HTTPS and localhost pages. */
function newKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function networkError(cause) {
  const error = new JobsError(0, "NETWORK", "The service could not be reached");
  error.cause = cause;
  return error;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

// The same functions on a client with the defaults: `import { trigger } from "./client.js"`.
const defaults = createClient();
export const {
  jobs,
  trigger,
  repair,
  rerun,
  watch,
  job,
  status,
  runs,
  run,
  output,
  cancel,
  cancelAll,
  allRuns,
} = defaults;
