"""Idempotent integration events: exactly-once effects, deterministic conflicts, replay.

The database row, unique per (source, idempotency key), is the source of truth. A handler's effects
and the event's status change commit in one transaction, under the event row's lock and a claim that
expires, so a duplicate delivery, a dead worker or a lost Redis neither loses nor doubles an effect.
Redis only answers faster (an in-flight lock and a cache of completed keys); losing it changes
nothing but speed. See docs/events.md.
"""
