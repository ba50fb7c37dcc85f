"""Site facts: patches.txt parsed as Frappe parses it, Patch Log and customizations from real MariaDB."""

from erp_ops.core.preflight import run_preflight
from erp_ops.core.preflight.site import parse_patches_txt, pending_patches
from tests.support.mariadb_site import create_site_tables, insert, read_site_facts
from tests.support.preflight_bench import make_bench

PATCHES = """\
[pre_model_sync]
custom_app.patches.v1_0.rename_field
# a comment line
execute:frappe.db.set_value("System Settings", None, "x", 1)

[post_model_sync]
custom_app.patches.v1_0.fill_defaults #2024-05-01
"""


def test_patches_txt_is_read_like_frappe_reads_it():
	assert parse_patches_txt(PATCHES) == [
		"custom_app.patches.v1_0.rename_field",
		'execute:frappe.db.set_value("System Settings", None, "x", 1)',
		"custom_app.patches.v1_0.fill_defaults #2024-05-01",
	]
	assert parse_patches_txt("a.b.c\n\n#x\nd.e.f\n") == ["a.b.c", "d.e.f"]  # the old flat format
	assert parse_patches_txt("") == []


def test_pending_patches_are_those_missing_from_patch_log():
	pending = pending_patches({"custom_app": PATCHES}, {"custom_app.patches.v1_0.rename_field"})
	assert [p.patch for p in pending] == [
		'execute:frappe.db.set_value("System Settings", None, "x", 1)',
		"custom_app.patches.v1_0.fill_defaults #2024-05-01",
	]


def test_site_facts_from_a_real_database_drive_the_preflight(mariadb_db, tmp_path):
	kwargs, _name = mariadb_db
	create_site_tables(kwargs)
	insert(
		kwargs,
		"tabPatch Log",
		[
			{"name": "p1", "patch": "custom_app.patches.v1_0.rename_field", "skipped": 0},
			{"name": "p2", "patch": "custom_app.patches.v1_0.fill_defaults #2024-05-01", "skipped": 1},
		],
	)
	insert(
		kwargs, "tabCustom Field", [{"name": "Blog Post-region", "dt": "Blog Post", "fieldname": "region"}]
	)
	insert(
		kwargs,
		"tabProperty Setter",
		[{"name": "ToDo-main-sort", "doc_type": "ToDo", "property": "sort_field"}],
	)

	site = read_site_facts(kwargs, "site1.local", {"custom_app": PATCHES})
	assert [p.patch for p in site.pending_patches] == [
		'execute:frappe.db.set_value("System Settings", None, "x", 1)',
		"custom_app.patches.v1_0.fill_defaults #2024-05-01",  # skipped rows do not count as run
	]
	assert site.db_size_bytes > 0 and site.mariadb_version

	report = run_preflight(make_bench(tmp_path), 16, site_facts=site)
	pending = [f for f in report.findings if f.check == "pending-patch"]
	assert [f.evidence.text for f in pending] == [p.patch for p in site.pending_patches]
	changed = [f for f in report.findings if f.check == "customization-on-changed-doctype"]
	assert [(f.evidence.values["doctype"], f.evidence.text) for f in changed] == [
		("Blog Post", "Custom Field: Blog Post-region")
	]
	assert report.facts.runtimes.mariadb == site.mariadb_version


def test_client_and_server_scripts_are_scanned_like_app_code(tmp_path):
	"""Scripts live in the database, not in an app: the same rules find them, named by kind and name."""
	from erp_ops.core.preflight import SiteFacts, SiteScript

	bench = make_bench(tmp_path)
	client = "frappe.ui.form.on('Sales Invoice', {\n\trefresh(frm) {\n\t\twindow.open('/app/customer');\n\t}\n});\n"
	server = "doc.flags.checked = True\nurl = frappe.utils.get_gravatar(doc.email)\n"
	facts = SiteFacts(
		site="s.local",
		scripts=[
			SiteScript(kind="Client Script", name="Invoice Links", code=client),
			SiteScript(kind="Server Script", name="Role Check", code=server),
			SiteScript(kind="Client Script", name="Clean", code="frappe.set_route('Form', 'Customer');\n"),
		],
	)
	report = run_preflight(bench, 16, site_facts=facts)
	scripts = {
		(f.check, f.evidence.file, f.evidence.line)
		for f in report.findings
		if f.evidence and (f.evidence.file or "").endswith(("Links", "Check", "Clean"))
	}
	assert ("v16-desk-route-app", "Client Script: Invoice Links", 3) in scripts
	assert ("v16-gravatar-helpers", "Server Script: Role Check", 2) in scripts
	assert not any(file == "Client Script: Clean" for _check, file, _line in scripts)
