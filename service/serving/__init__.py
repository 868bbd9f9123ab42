"""How the process serves HTTP: its socket, Hypercorn's loop and connections, failed accepts,
and worker processes."""
