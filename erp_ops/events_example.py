"""An example integration-event handler, registered by no hook: enable it in site_config.json.

	bench --site <site> set-config --parse erp_ops_event_handlers \\
		'{"example:note.upsert": "erp_ops.events_example.note_upsert"}'

It keeps one Note per title up to date: the first event creates it, later ones change its content.
Events about one title are ordered by their `seq` (last writer wins), so an older event arriving
late is recorded as Superseded instead of overwriting newer content. The bench tests use it as the
real handler; an app's own handlers look the same.

It runs with the sender's permissions (erp_ops runs every handler as the user who sent the event),
never `ignore_permissions`: a sender creates Notes and changes its own, as Frappe's Note
permissions allow it, and nothing more.
"""

import frappe
from pydantic import BaseModel, Field

from erp_ops.core.events import ConflictPolicy, DocRef, Event, EventHandler, FieldChange, HandlerResult


class NoteUpsert(BaseModel):
	title: str = Field(min_length=1, max_length=140)
	content: str = Field(max_length=10000)
	seq: int = Field(ge=0)


def upsert_note(event: Event, tx) -> HandlerResult:
	"""Create or update the Note in the event's transaction (`tx.connection` is `frappe.db`)."""
	p: NoteUpsert = event.payload
	name = frappe.db.get_value("Note", {"title": p.title}, "name", order_by="creation asc", for_update=True)
	if name is None:
		note = frappe.get_doc({"doctype": "Note", "title": p.title, "content": p.content, "public": 0})
		note.insert()
		changes = [
			FieldChange(doctype="Note", name=note.name, field=field, before=None, after=value)
			for field, value in (("title", p.title), ("content", p.content))
		]
		return HandlerResult(
			result={"note": note.name, "created": True},
			touched=[DocRef(doctype="Note", name=note.name)],
			changes=changes,
		)
	note = frappe.get_doc("Note", name)
	changes = []
	if (note.content or "") != p.content:
		changes.append(
			FieldChange(doctype="Note", name=name, field="content", before=note.content, after=p.content)
		)
		note.content = p.content
		note.save()
	return HandlerResult(
		result={"note": name, "created": False},
		touched=[DocRef(doctype="Note", name=name)],
		changes=changes,
	)


note_upsert = EventHandler(
	fn=upsert_note,
	schema=NoteUpsert,
	policy=ConflictPolicy.LAST_WRITER_WINS,
	entity=lambda p: p.title,
	sequence=lambda p: p.seq,
)
