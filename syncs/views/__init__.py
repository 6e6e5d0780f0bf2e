"""Pages of connections and cohort syncs: one module per group (connections, a sync, a
run's delivery log)."""
