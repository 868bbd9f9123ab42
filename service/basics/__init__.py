"""The bottom layer: the error tree, time, logs, ids, echo bounds, secrets and the Caller
value; it imports nothing else of the service."""
