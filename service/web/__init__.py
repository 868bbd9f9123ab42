"""The HTTP API: routes and their replies, the API document and its page, the dashboard's
files, metrics, the exception handlers and the access log."""
