"""The demo scenario: the same text as config/emulator.toml (a test keeps the two equal)."""

DEMO_SCENARIO_TOML = r"""# The emulator's demo scenario, served by `python -m service emulator`.
# Job ids match config/demo.toml. Times are emulated milliseconds; `speed` makes them pass faster
# than real time (2.0: a 14 s run takes 7 s). The same text is Scenario.demo().
#
# Any run can ask for its outcome or duration through a parameter (job_parameters,
# notebook_params, python_named_params or sql_params):
#   emulator_outcome = "SUCCESS" | "FAILED" | "INTERNAL_ERROR"
#   emulator_duration_ms = "60000"     # how long each task stays RUNNING
workspace_id = 1234567890123456
account_id = "7e1a9c1d-0b2f-4c3e-9d5a-6f7b8c9d0e1f"
speed = 2.0
tokens = ["dapi-local-dev"]        # personal access tokens
refused_tokens = ["dapi-revoked"]  # always 403 "Invalid access token."
accept_any_token = true            # any other bearer token works too (forwarded user tokens)
token_ttl_s = 3600                 # lifetime of OAuth tokens from /oidc/v1/token
list_limit_max = 25                # runs/list page size limit

[[clients]]                        # OAuth M2M service principals
id = "local-client"
secret = "local-secret"

[timings]
queued_ms = 2000                   # the least time a run that had to queue stays QUEUED
pending_ms = 3000
running_ms = 10000
terminating_ms = 1000

[jobs.etl]
job_id = 1001
name = "nightly-sales-etl"
max_concurrent_runs = 5
parameters = [
    { name = "run_date", default = "" },
    { name = "dry_run", default = "false" },
    { name = "env", default = "dev" },
]
[[jobs.etl.tasks]]
task_key = "etl"
type = "notebook"
output = '{"rows_written": 120443}'

[jobs.wheel]
job_id = 1002
name = "wheel-loader"
max_concurrent_runs = 5
[[jobs.wheel.tasks]]
task_key = "load"
type = "python_wheel"
output = "loaded 1000 rows into main.sales.orders\n"

[jobs.script]
job_id = 1003
name = "python-script"
max_concurrent_runs = 5
[[jobs.script.tasks]]
task_key = "script"
type = "python_script"
output = "processed 42 files\n"

[jobs.jar]
job_id = 1004
name = "spark-jar"
max_concurrent_runs = 5
[[jobs.jar.tasks]]
task_key = "jar"
type = "spark_jar"
output = "SparkPi: pi is roughly 3.1418\n"

[jobs.report]
job_id = 1005
name = "regional-report"
max_concurrent_runs = 5
[[jobs.report.tasks]]
task_key = "report"
type = "sql"
output = "SELECT region, sum(amount) FROM sales GROUP BY region"

[jobs.dbt]
job_id = 1006
name = "dbt-models"
max_concurrent_runs = 5
[[jobs.dbt.tasks]]
task_key = "dbt"
type = "dbt"

[jobs.pipeline]
job_id = 1007
name = "daily-pipeline"
max_concurrent_runs = 5
parameters = [{ name = "run_date", default = "" }]
[[jobs.pipeline.tasks]]
task_key = "ingest"
type = "notebook"
output = '{"files": 12}'
[[jobs.pipeline.tasks]]
task_key = "transform"
type = "python_script"
depends_on = ["ingest"]
output = "transformed 12 files\n"
[[jobs.pipeline.tasks]]
task_key = "publish"
type = "notebook"
depends_on = ["transform"]
output = '{"published": true}'

[jobs.flaky]
job_id = 1008
name = "flaky-pipeline"
max_concurrent_runs = 5
[[jobs.flaky.tasks]]
task_key = "extract"
type = "notebook"
output = '{"rows": 10}'
[[jobs.flaky.tasks]]
task_key = "load"
type = "python_wheel"
depends_on = ["extract"]
outcome = "FAILED"
output = "connecting to the warehouse\n"
error = "ConnectionError: warehouse refused the connection"
[[jobs.flaky.tasks]]
task_key = "notify"
type = "notebook"
depends_on = ["load"]

[jobs.serial]                      # one run at a time; later runs wait in the queue
job_id = 1009
name = "serial-job"
max_concurrent_runs = 1
queue = true

[jobs.exclusive]                   # one run at a time; later runs are skipped
job_id = 1010
name = "exclusive-job"
max_concurrent_runs = 1
queue = false
"""
