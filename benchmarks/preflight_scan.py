"""Scan a generated tree of one million lines of Python and JS with the v15 → v16 rule set.

    python benchmarks/preflight_scan.py [--lines 1000000] [--target 16]

The tree imitates a custom app: DocType controllers that import frappe, use public APIs
(frappe.has_permission, db.set_value, get_all), define private helpers and call them on self, and,
in one file out of twenty, a seeded removed API, private import, /app route or SQL function in
`fields=`. The identifier
pre-filter sends only the files that can match a rule through `ast`; `--worst-case` adds an
import of a rule-listed function to every Python file so that every one of them is parsed.
Needs no service. Ends with one line: `lines=… files=… parsed_files=… findings=… scan_s=… lines_per_s=…`.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from erp_ops.core.preflight.rules import load_rule_set
from erp_ops.core.preflight.scan import CompiledRules, scan_tree

PY_HEADER = """\
import json

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint, flt, getdate, now_datetime

"""

PY_BLOCK = """\
class Thing{n}(Document):
	def validate(self):
		self.total = flt(self.qty) * flt(self.rate)
		if cint(self.qty) < 0:
			frappe.throw(_("Quantity cannot be negative"))
		self._check_dates()

	def _check_dates(self):
		if self.from_date and getdate(self.from_date) > getdate(self.to_date):
			frappe.throw(_("From date must be before to date"))

	def on_submit(self):
		frappe.db.set_value("Thing", self.name, "status", "Submitted")
		frappe.get_doc({{"doctype": "Comment", "reference_name": self.name}}).insert()


def _summary_{n}(names):
	rows = frappe.get_all("Thing", filters={{"name": ["in", names]}}, fields=["name", "total"])
	return json.dumps({{r.name: r.total for r in rows}})


@frappe.whitelist()
def get_summary_{n}(names: str):
	frappe.has_permission("Thing", "read", throw=True)
	return _summary_{n}(json.loads(names))

"""

PY_SEEDS = [
	"from frappe.core.doctype.user.user import get_roles\n",
	"from frappe.model.base_document import _filter\n",
	"URL = '/app/thing'\n",
	"import imghdr\n",
	"import frappe\nTOTALS = frappe.get_all('Thing', fields=['count(name) as n'])\n",
]

JS_BLOCK = """\
frappe.ui.form.on("Thing {n}", {{
	refresh(frm) {{
		if (!frm.is_new()) {{
			frm.add_custom_button(__("Summary"), () => {{
				frappe.call({{
					method: "custom_app.api.get_summary_{n}",
					args: {{ names: JSON.stringify([frm.doc.name]) }},
					callback: (r) => frappe.msgprint(r.message),
				}});
			}});
		}}
		frm.set_query("item", () => ({{ filters: {{ disabled: 0 }} }}));
	}},
	qty(frm) {{
		frm.set_value("total", flt(frm.doc.qty) * flt(frm.doc.rate));
	}},
}});

"""

JS_SEEDS = ['window.location.href = "/app/thing";\n', "frappe.energy_points.format_form_log({});\n"]


def generate(root: Path, total_lines: int, *, worst_case: bool = False) -> tuple[int, int]:
	"""About 70 % Python and 30 % JS, ~200-line files; returns (files, lines written)."""
	lines = files = 0
	n = 0
	py_block_lines = PY_BLOCK.count("\n")
	js_block_lines = JS_BLOCK.count("\n")
	while lines < total_lines:
		n += 1
		folder = root / "custom_app" / f"module_{n // 100}"
		folder.mkdir(parents=True, exist_ok=True)
		if n % 10 < 7:
			body = PY_HEADER + "".join(PY_BLOCK.format(n=f"{n}_{i}") for i in range(200 // py_block_lines))
			if n % 20 == 0:
				body = PY_SEEDS[(n // 20) % len(PY_SEEDS)] + body
			if worst_case:
				body = "from frappe.utils.nestedset import rebuild_tree\n" + body
			path = folder / f"thing_{n}.py"
		else:
			body = "".join(JS_BLOCK.format(n=f"{n}_{i}") for i in range(200 // js_block_lines))
			if n % 20 == 9:
				body += JS_SEEDS[(n // 20) % len(JS_SEEDS)]
			path = folder / f"thing_{n}.js"
		path.write_text(body, encoding="utf-8")
		files += 1
		lines += body.count("\n")
	return files, lines


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	parser.add_argument("--lines", type=int, default=1_000_000)
	parser.add_argument("--target", type=int, default=16)
	parser.add_argument("--worst-case", action="store_true", help="make every Python file need a parse")
	args = parser.parse_args()
	rules = CompiledRules.from_rule_set(load_rule_set(args.target))
	with tempfile.TemporaryDirectory(prefix="erp_ops_preflight_bench_") as tmp:
		root = Path(tmp)
		generate(root, args.lines, worst_case=args.worst_case)
		started = time.perf_counter()
		result = scan_tree(root, rules, app="custom_app")
		elapsed = time.perf_counter() - started
	stats = result.stats
	print(
		f"lines={stats.lines} files={stats.files} parsed_files={stats.parsed_files} "
		f"findings={len(result.findings)} scan_s={elapsed:.2f} lines_per_s={stats.lines / elapsed:.0f}"
	)


if __name__ == "__main__":
	main()
