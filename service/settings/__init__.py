"""Settings as a value: the TOML file's strict structs, the environment merged in, and each
[access] and [limits] value parsed and checked."""
