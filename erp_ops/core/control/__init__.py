"""Control actions on a bench's RQ jobs: retry, requeue, cancel, quarantine, release, purge.

Every state change is decided and applied by one Lua script on the Redis server, so two operators
(or an operator and a worker) acting on one job produce exactly one effect; the other gets
`JobConflict` (409). Bulk actions run the same scripts in bounded MULTI/EXEC batches behind a
preview and a confirmation token.
"""
