"""Running more than one: the Redis link, and the shared cache store, key memory, run hub and
trigger counts over it, wired in one place."""
