"""The job verbs behind the routes and the Python API: operations, triggers and their key
memory, the audit recorder, the users behind forwarded tokens, a run's result."""
