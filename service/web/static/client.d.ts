// Types of client.js, the browser client of jobs-sidecar (served at /client.d.ts).

/** An error from the service, or `status` 0 and code "NETWORK" when it could not be reached. */
export class JobsError extends Error {
  readonly name: "JobsError";
  status: number;
  /** BAD_REQUEST, UNKNOWN_JOB, RUN_NOT_FOUND, CROSS_ORIGIN, OUTCOME_UNKNOWN, WAIT_TIMEOUT, ... */
  code: string;
  /** For a 400 about parameters: each misfit parameter, what it must be (`message`, for people:
   *  "must be a date like 2026-11-29") and what was wrong, in the validator's words (`detail`). */
  fields: { field: string; message: string; detail?: string }[];
  /** On a trigger, repair or rerun: the key it was sent with (retry with it to reach the same). */
  idempotencyKey: string | null;
  /** Seconds, from a Retry-After header. */
  retryAfter: number | null;
}

/** SUCCESS, FAILED, CANCELED, TIMEDOUT, ... or null while the run has no result. */
export type Result =
  | "SUCCESS"
  | "FAILED"
  | "CANCELED"
  | "TIMEDOUT"
  | "SUCCESS_WITH_FAILURES"
  | "EXCLUDED"
  | "UPSTREAM_FAILED"
  | "UPSTREAM_CANCELED"
  | "MAXIMUM_CONCURRENT_RUNS_REACHED"
  | (string & {})
  | null;

/** PENDING, QUEUED, RUNNING, TERMINATING, TERMINATED, SKIPPED, INTERNAL_ERROR, BLOCKED, ... */
export type LifeCycleState = string;

/** A run as the Jobs API describes it (`runs/get`), plus the top-level `result`. */
export interface Run {
  run_id: number;
  job_id: number;
  state: { life_cycle_state: LifeCycleState; result_state?: string; state_message?: string };
  start_time: number;
  end_time: number;
  run_duration?: number;
  run_page_url: string;
  creator_user_name?: string;
  tasks?: TaskRun[];
  /** With `run(key, id, {history: true})`: the original run and each repair. */
  repair_history?: RepairHistoryItem[];
  result: Result;
  [field: string]: unknown;
}

export interface RepairHistoryItem {
  type: "ORIGINAL" | "REPAIR";
  /** A repair's id (the original has none). */
  id?: number;
  start_time: number;
  end_time: number;
  state: { life_cycle_state: LifeCycleState; result_state?: string; state_message?: string };
  task_run_ids?: number[];
  [field: string]: unknown;
}

export interface TaskRun {
  task_key: string;
  run_id: number;
  state: { life_cycle_state: LifeCycleState; result_state?: string };
  start_time: number;
  end_time: number;
  depends_on?: { task_key: string }[];
  [field: string]: unknown;
}

/** A job of the catalog; `params` is its parameters' JSON Schema (null: any parameters). */
export interface Job {
  key: string;
  taskType: string;
  configured: boolean;
  runAs: "service_principal" | "user";
  params: JsonSchema | null;
  canRun: boolean;
  /** With `jobs({describe: true})`, when Databricks' definition of the job could be read. */
  name?: string | null;
  description?: string | null;
  /** The job's task keys, in its order. */
  tasks?: string[];
}

export interface JsonSchema {
  type?: string;
  format?: string;
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  [keyword: string]: unknown;
}

/** Why a queued run waits: `code` for programs (MAX_CONCURRENT_RUNS_REACHED, ...), `reason` for people. */
export interface Queue {
  code: string | null;
  reason: string | null;
}

export interface Status {
  status: LifeCycleState | null;
  result: Result;
  run: Run | null;
  /** Only while the run waits in a queue. */
  queue?: Queue;
}

/** A run of `allRuns`: the run, and the key of its job. */
export interface JobRun extends Run {
  jobKey: string;
}

export interface Repair {
  runId: number;
  repairId: number;
  /** Where to watch the repaired run (its events go on after its old final one). */
  watchUrl: string;
  idempotencyKey: string;
}

export interface Rerun {
  runId: number;
  watchUrl: string;
  idempotencyKey: string;
}

export type WatchEvent =
  | {
      type: "update";
      id: string;
      status: LifeCycleState;
      result: Result;
      timestamp: number;
      run: Run;
      /** Only while the run waits in a queue. */
      queue?: Queue;
    }
  | { type: "error"; error: JobsError };

export interface Watch {
  /** Stop following (the run goes on). */
  close(): void;
  /** The id of the last event received: pass it as `lastEventId` to resume elsewhere. */
  readonly lastEventId: string | null;
  /**
   * Resolves with the last event once the watch is over (final update, error or close); null
   * when nothing came: the run had ended before (a resumed watch), or the stream was refused
   * (read `run()` to know which).
   */
  readonly done: Promise<WatchEvent | null>;
}

export type TaskOutput = Record<string, unknown>;
export type Output = TaskOutput | { tasks: { task_key: string; run_id: number; output: TaskOutput }[] };

interface Signal {
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** Where the service is; default "", paths relative to the page (`api/jobs/...`). */
  baseUrl?: string;
  /** Extra attempts of a trigger, repair or rerun whose outcome is unknown (default 3). */
  retries?: number;
  /** The first backoff between those attempts, doubled each time (default 500 ms). */
  retryDelayMs?: number;
  /** fetch's credentials mode (default "same-origin"); "include" for cookies to another origin. */
  credentials?: RequestCredentials;
  /** Headers added to every request, streams included (e.g. `Authorization: Bearer <key>`). */
  headers?: Record<string, string>;
  /**
   * How `watch` reads a run's events: "fetch" (sends `headers`; a refusal is an error event) or
   * "eventsource". Default: "fetch" when `headers` are given or there is no EventSource.
   */
  stream?: "fetch" | "eventsource";
  fetch?: typeof fetch;
  EventSource?: typeof EventSource;
}

export interface Client {
  jobs(options?: { describe?: boolean } & Signal): Promise<Job[]>;
  trigger(
    key: string,
    params?: Record<string, unknown>,
    options?: { idempotencyKey?: string } & Signal,
  ): Promise<{ runId: number; idempotencyKey: string }>;
  /** Run a finished run's failed tasks (or `tasks`) again, in the same run; once per key. */
  repair(
    key: string,
    runId: number,
    options?: {
      tasks?: string[];
      rerunDependents?: boolean;
      params?: Record<string, unknown>;
      idempotencyKey?: string;
    } & Signal,
  ): Promise<Repair>;
  /** A new run with the parameters `runId` had; once per key. */
  rerun(key: string, runId: number, options?: { idempotencyKey?: string } & Signal): Promise<Rerun>;
  watch(
    key: string,
    runId: number,
    onEvent: (event: WatchEvent) => void,
    options?: { lastEventId?: string },
  ): Watch;
  job(key: string, options?: Signal): Promise<Record<string, unknown>>;
  status(key: string, options?: Signal): Promise<Status>;
  /** The latest runs; with `tasks`, each with its task runs. */
  runs(key: string, options?: { limit?: number; tasks?: boolean } & Signal): Promise<Run[]>;
  run(key: string, runId: number, options?: { history?: boolean } & Signal): Promise<Run>;
  output(key: string, runId: number, options?: Signal): Promise<Output>;
  cancel(key: string, runId: number, options?: Signal): Promise<void>;
  /** Cancel every active run of the job. */
  cancelAll(key: string, options?: Signal): Promise<void>;
  /** The runs of every job the caller may view, newest first. */
  allRuns(options?: { limit?: number; active?: boolean } & Signal): Promise<JobRun[]>;
}

export function createClient(options?: ClientOptions): Client;
export const FINAL_STATES: readonly string[];
export function isFinal(status: LifeCycleState | null | undefined): boolean;
export function resultOf(item: unknown): Result;
export function canRun(job: { canRun?: boolean }): boolean;

export const jobs: Client["jobs"];
export const trigger: Client["trigger"];
export const watch: Client["watch"];
export const job: Client["job"];
export const status: Client["status"];
export const runs: Client["runs"];
export const run: Client["run"];
export const output: Client["output"];
export const cancel: Client["cancel"];
export const repair: Client["repair"];
export const rerun: Client["rerun"];
export const cancelAll: Client["cancelAll"];
export const allRuns: Client["allRuns"];
