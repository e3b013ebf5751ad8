"""duban engine: supervision items as state machines, persisted and audited."""
