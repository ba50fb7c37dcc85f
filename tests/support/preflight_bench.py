"""Build a throwaway bench with a custom app full of seeded upgrade problems, and a clean one.

`SEEDED` lists every problem as (check id, path relative to the bench, marker): the line number is
looked up from the marker comment so tests assert the exact line the scanner must report.
"""

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

GIT_ENV = {
	"GIT_AUTHOR_NAME": "t",
	"GIT_AUTHOR_EMAIL": "t@example.com",
	"GIT_COMMITTER_NAME": "t",
	"GIT_COMMITTER_EMAIL": "t@example.com",
	"GIT_CONFIG_GLOBAL": "/dev/null",
	"GIT_CONFIG_NOSYSTEM": "1",
}

CUSTOM_PY = """\
import imghdr  # seed:py313-removed-modules
import boto3  # seed:v16-undeclared-offsite-sdks

import frappe
from frappe import _
from frappe.core.doctype.user.user import get_roles  # seed:v16-user-get-roles
from frappe.model.base_document import _filter  # seed:frappe-private-api
from frappe.permissions import has_permission
from frappe.utils.nestedset import rebuild_tree

if frappe.__version__.startswith("15."):
	from frappe.desk.desktop import get_workspace_sidebar_items  # guarded: must not be reported

try:
	from frappe.utils import get_gravatar  # guarded by ImportError: must not be reported
except ImportError:
	get_gravatar = None


def roles_of(user):
	return get_roles(user)


def can_read(doc, user):
	return has_permission("ToDo", "read", doc, user, False)  # seed:v16-has-permission-raise-exception


def check_column(e):
	return frappe.db.is_column_missing(e)  # seed:v16-is-column-missing-renamed


def rebuild():
	rebuild_tree("Item Group", "parent_item_group")  # seed:v16-rebuild-tree-signature
	frappe.msgprint(_("Done"))


def todo_url(name):
	return f"/app/todo/{name}"  # seed:v16-desk-route-app
"""

CUSTOM_JS = """\
frappe.ui.form.on("ToDo", {
	refresh(frm) {
		// a comment about "/app/todo" is not code
		frm.add_custom_button("Open list", () => {
			window.location.href = "/app/todo"; // seed:v16-desk-route-app
		});
		frappe.energy_points.format_form_log({}); // seed:v16-energy-points-js
	},
});
"""

CLEAN_PY = """\
import frappe
from frappe import _
from frappe.utils import cint, get_url_to_form


def open_todo(name):
	return get_url_to_form("ToDo", name)


def count(doctype):
	return cint(frappe.db.count(doctype))


def greet():
	frappe.msgprint(_("Hello"))
"""

CLEAN_JS = """\
frappe.ui.form.on("ToDo", {
	refresh(frm) {
		frm.add_custom_button(__("Open list"), () => frappe.set_route("List", "ToDo"));
	},
});
"""

CUSTOM_PYPROJECT = """\
[project]
name = "custom_app"
authors = [{ name = "t", email = "t@example.com" }]
requires-python = ">=3.10"
dynamic = ["version"]
dependencies = [
    "pydantic>=2.7,<3",
    "rq==1.15.1",  # seed:dependency-conflict
]

[tool.bench.frappe-dependencies]
frappe = ">=15.0.0,<17.0.0"
"""

CLEAN_PYPROJECT = """\
[project]
name = "clean_app"
authors = [{ name = "t", email = "t@example.com" }]
requires-python = ">=3.10"
dynamic = ["version"]
dependencies = [
    "pydantic>=2.7,<3",
    "rq>=1.15.1,<3",
]

[tool.bench.frappe-dependencies]
frappe = ">=15.0.0,<17.0.0"
"""

FRAPPE_PYPROJECT = """\
[project]
name = "frappe"
requires-python = ">=3.10,<3.13"
dynamic = ["version"]
dependencies = ["rq~=1.15.1"]
"""

# (check id, file relative to the bench, marker to find the line) for every seeded code problem
SEEDED_CODE = [
	("py313-removed-modules", "apps/custom_app/custom_app/api.py", "seed:py313-removed-modules"),
	("v16-undeclared-offsite-sdks", "apps/custom_app/custom_app/api.py", "seed:v16-undeclared-offsite-sdks"),
	("v16-user-get-roles", "apps/custom_app/custom_app/api.py", "seed:v16-user-get-roles"),
	("frappe-private-api", "apps/custom_app/custom_app/api.py", "seed:frappe-private-api"),
	(
		"v16-has-permission-raise-exception",
		"apps/custom_app/custom_app/api.py",
		"seed:v16-has-permission-raise-exception",
	),
	(
		"v16-is-column-missing-renamed",
		"apps/custom_app/custom_app/api.py",
		"seed:v16-is-column-missing-renamed",
	),
	("v16-rebuild-tree-signature", "apps/custom_app/custom_app/api.py", "seed:v16-rebuild-tree-signature"),
	("v16-desk-route-app", "apps/custom_app/custom_app/api.py", "seed:v16-desk-route-app"),
	("v16-desk-route-app", "apps/custom_app/custom_app/public/js/todo.js", "seed:v16-desk-route-app"),
	("v16-energy-points-js", "apps/custom_app/custom_app/public/js/todo.js", "seed:v16-energy-points-js"),
	("dependency-conflict", "apps/custom_app/pyproject.toml", "seed:dependency-conflict"),
]


def git(path: Path, *args: str) -> str:
	return subprocess.run(
		["git", "-C", str(path), *args],
		check=True,
		capture_output=True,
		text=True,
		env={**os.environ, **GIT_ENV},
	).stdout


def _write(path: Path, text: str) -> None:
	path.parent.mkdir(parents=True, exist_ok=True)
	path.write_text(textwrap.dedent(text), encoding="utf-8")


def _app(bench: Path, name: str, pyproject: str, py: str, js: str, remote: str) -> Path:
	root = bench / "apps" / name
	_write(root / "pyproject.toml", pyproject)
	_write(root / name / "__init__.py", '__version__ = "1.2.3"\n')
	_write(root / name / "hooks.py", f'app_name = "{name}"\n')
	_write(root / name / "patches.txt", "[pre_model_sync]\n[post_model_sync]\n")
	_write(root / name / "api.py", py)
	_write(root / name / "public" / "js" / "todo.js", js)
	git(root, "init", "-q", "-b", "version-15")
	git(root, "remote", "add", "upstream", remote)
	git(root, "add", "-A")
	git(root, "commit", "-q", "-m", "init")
	return root


def make_bench(root: Path, *, dirty: bool = True) -> Path:
	"""A bench at `root` with frappe (official, skipped), custom_app (seeded) and clean_app."""
	bench = root / "frappe-bench"
	(bench / "sites").mkdir(parents=True)
	(bench / "sites" / "apps.txt").write_text("frappe\ncustom_app\nclean_app\n", encoding="utf-8")
	(bench / "env" / "bin").mkdir(parents=True)
	(bench / "env" / "bin" / "python").symlink_to(
		sys.executable
	)  # the bench's interpreter, asked its version
	frappe = bench / "apps" / "frappe"
	_write(frappe / "pyproject.toml", FRAPPE_PYPROJECT)
	_write(frappe / "frappe" / "__init__.py", '__version__ = "15.41.0"\n')
	git(frappe, "init", "-q", "-b", "version-15")
	git(frappe, "remote", "add", "upstream", "https://github.com/frappe/frappe.git")
	git(frappe, "add", "-A")
	git(frappe, "commit", "-q", "-m", "frappe")
	custom = _app(
		bench, "custom_app", CUSTOM_PYPROJECT, CUSTOM_PY, CUSTOM_JS, "https://example.com/acme/custom_app.git"
	)
	_app(bench, "clean_app", CLEAN_PYPROJECT, CLEAN_PY, CLEAN_JS, "https://example.com/acme/clean_app.git")
	if dirty:
		hooks = custom / "custom_app" / "hooks.py"
		hooks.write_text(hooks.read_text() + 'app_title = "Custom"\n', encoding="utf-8")
	return bench


def line_of(bench: Path, rel: str, marker: str) -> int:
	for i, line in enumerate((bench / rel).read_text(encoding="utf-8").splitlines(), 1):
		if marker in line:
			return i
	raise AssertionError(f"marker {marker!r} not in {rel}")


def tree_digest(root: Path) -> dict[str, tuple[str, int, int]]:
	"""Every file and directory under `root` (.git included): content hash, mode, mtime in ns."""
	digest: dict[str, tuple[str, int, int]] = {}
	for dirpath, dirnames, filenames in os.walk(root):
		dirnames.sort()
		for name in [*dirnames, *filenames]:
			path = Path(dirpath) / name
			st = path.lstat()
			content = (
				hashlib.sha256(path.read_bytes()).hexdigest()
				if path.is_file() and not path.is_symlink()
				else ""
			)
			digest[str(path.relative_to(root))] = (content, st.st_mode, st.st_mtime_ns)
	return digest
