"""The ingest endpoint's answer to an `application/json` body that Frappe itself could not parse.

Frappe parses a JSON body into `form_dict` before any app code runs (`frappe.app.make_form_dict`):
invalid JSON fails there with a 500, a bare scalar (`42`, `"x"`) with a 417, and the endpoint never
sees the delivery, so the sender gets no 422 and nothing is recorded. This `after_request` hook
runs for every request and returns after a string comparison unless it is that case; then it does
what Frappe would have done next (authenticate the caller, call the endpoint) and puts the
endpoint's answer in place of Frappe's error: 422 and a Rejected record for invalid JSON, the
handler's verdict for a scalar, 401/403 for a caller who may not ingest.
"""

import json

import frappe
from werkzeug.wrappers import Request, Response

# The documented endpoint (API v1); v2 callers get Frappe's own answer.
INGEST_PATH = "/api/method/erp_ops.api.events.ingest"


def after_request(response: Response | None, request: Request) -> None:
	if request.path != INGEST_PATH or response is None or response.status_code < 400:
		return
	if request.method != "POST":  # the endpoint is whitelisted for POST only
		return
	if not _unparsable_by_frappe(request):
		return
	from frappe.app import handle_exception
	from frappe.auth import HTTPRequest, validate_auth
	from frappe.utils.response import build_response

	from erp_ops.api.events import ingest

	frappe.local.response = frappe._dict({"docs": []})
	frappe.local.message_log = []
	frappe.local.form_dict = frappe._dict()
	try:
		# What init_request and application do after parsing the body, which they never reached.
		frappe.local.http_request = HTTPRequest()
		validate_auth()
		frappe.local.response["message"] = ingest()
		frappe.db.commit()  # as Frappe commits a POST: it also sends the enqueues waiting for it
		answer = build_response("json")
	except Exception as e:
		frappe.db.rollback()  # the endpoint commits what it keeps (the event, a refusal's record)
		answer = handle_exception(e)
	response.status_code = answer.status_code
	response.set_data(answer.get_data())


def _unparsable_by_frappe(request: Request) -> bool:
	"""True when `make_form_dict` failed on this body (the same test it applies)."""
	data = request.get_data(as_text=True)
	if not data or not request.is_json:
		return False
	try:
		args = json.loads(data)
	except ValueError:
		return True
	return not isinstance(args, dict | list)
