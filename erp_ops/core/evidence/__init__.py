"""Job Evidence: a small record per job execution, appended to a capped Redis stream on the
worker's hot path (one round trip, no database write) and flushed in bulk, idempotently, by a
scheduler task."""
