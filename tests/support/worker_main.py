"""`python -m tests.support.worker_main REDIS_URL NAME QUEUES [--burst]`: one real RQ worker."""

import sys

from redis import Redis
from rq import Queue, Worker


def main() -> None:
	url, name, queues = sys.argv[1:4]
	burst = "--burst" in sys.argv[4:]
	conn = Redis.from_url(url)
	worker = Worker([Queue(q, connection=conn) for q in queues.split(",")], connection=conn, name=name)
	worker.work(burst=burst, logging_level="WARNING")


if __name__ == "__main__":
	main()
