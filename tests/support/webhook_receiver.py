"""A webhook receiver on 127.0.0.1 in a thread: records what it is sent, answers per path."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
	"""`/ok` 200, `/fail` 500, `/slow` waits `slow_s` then 200, `/redirect` 302 to `/ok`."""

	def __init__(self, slow_s: float = 2.0) -> None:
		self.received: list[dict] = []
		self.slow_s = slow_s
		receiver = self

		class Handler(BaseHTTPRequestHandler):
			def do_POST(self):
				body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
				receiver.received.append(
					{"path": self.path, "headers": dict(self.headers), "body": json.loads(body or b"null")}
				)
				if self.path == "/slow":
					time.sleep(receiver.slow_s)
				if self.path == "/redirect":
					self.send_response(302)
					self.send_header("Location", "/ok")
					self.end_headers()
					return
				self.send_response(500 if self.path == "/fail" else 200)
				self.send_header("Content-Length", "2")
				self.end_headers()
				self.wfile.write(b"ok")

			def log_message(self, *args):
				pass

		self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
		self.server.daemon_threads = True
		self.thread = threading.Thread(
			target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
		)

	@property
	def url(self) -> str:
		host, port = self.server.server_address[:2]
		return f"http://{host}:{port}"

	def __enter__(self) -> "Receiver":
		self.thread.start()
		return self

	def __exit__(self, *exc) -> None:
		self.server.shutdown()
		self.server.server_close()
		self.thread.join(timeout=5)
