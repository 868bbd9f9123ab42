"""Following a run: its watch and poll loop in the hub, each watcher's subscription, its events and
their Server-Sent Events stream."""
