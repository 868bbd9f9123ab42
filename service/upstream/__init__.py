"""The Jobs API as one class, `JobsClient`: its calls, credentials, retries, replies and wire
structs; no httpx type leaves the package."""
