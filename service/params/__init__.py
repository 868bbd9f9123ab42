"""Job parameters: schemas from TOML, their patterns, and the run request's body."""
