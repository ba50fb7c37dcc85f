"""One way to hold a lock on Redis: redis-py's `Lock` (a token per holder, released only by it).

Used for the site's evidence flush, the bench's alert evaluation and a site's restore drill. The
lock expires after `timeout_s`, so a killed holder blocks the next one for that long at most; a
holder that outlived its lock does not release the next holder's.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import LockError


@contextmanager
def held(conn: Redis, key: str, *, timeout_s: float, wait_s: float = 0.0) -> Iterator[bool]:
	"""Try to take the lock `key` (waiting up to `wait_s`); yield whether this block holds it."""
	lock = conn.lock(key, timeout=timeout_s, sleep=0.05, thread_local=False)
	acquired = lock.acquire(blocking=wait_s > 0, blocking_timeout=wait_s if wait_s > 0 else None)
	try:
		yield acquired
	finally:
		if acquired:
			try:
				lock.release()
			except LockError:  # expired, perhaps taken by the next holder: not ours to release
				pass
