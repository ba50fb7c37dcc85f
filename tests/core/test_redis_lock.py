"""The one Redis lock helper (redis-py's Lock) on a real Redis: exclusive, expiring, never releasing
another holder's lock, and waiting when asked to."""

import threading
import time

from erp_ops.core import redis_lock

KEY = "erp_ops:test:lock"


def test_a_second_holder_is_refused_while_the_first_holds(redis_conn):
	with redis_lock.held(redis_conn, KEY, timeout_s=10) as first:
		assert first
		with redis_lock.held(redis_conn, KEY, timeout_s=10) as second:
			assert not second
		assert redis_conn.exists(KEY)  # the refused block released nothing
	assert not redis_conn.exists(KEY)


def test_an_expired_holder_does_not_release_the_next_holders_lock(redis_conn):
	with redis_lock.held(redis_conn, KEY, timeout_s=0.2) as first:
		assert first
		time.sleep(0.4)  # the first holder outlived its lock
		with redis_lock.held(redis_conn, KEY, timeout_s=10) as second:
			assert second
			token = redis_conn.get(KEY)
		assert redis_conn.get(KEY) is None
		redis_conn.set(KEY, b"next-holder", px=10_000)
	assert redis_conn.get(KEY) == b"next-holder" and token != b"next-holder"


def test_wait_takes_the_lock_once_the_holder_lets_go(redis_conn):
	released = threading.Event()

	def hold_briefly():
		with redis_lock.held(redis_conn, KEY, timeout_s=10) as got:
			assert got
			released.wait(5)
			time.sleep(0.2)

	holder = threading.Thread(target=hold_briefly)
	holder.start()
	while not redis_conn.exists(KEY):
		time.sleep(0.01)
	released.set()
	with redis_lock.held(redis_conn, KEY, timeout_s=10, wait_s=5) as waited:
		assert waited
	holder.join()
	with redis_lock.held(redis_conn, KEY, timeout_s=10) as holder_gone:
		assert holder_gone
