"""The Ops Console in a real browser: Debian's Chromium driven by playwright, against a real bench.

    /root/browser-venv/bin/python tests/browser/console_browser.py [--bench /root/frappe-bench]
        [--site erp.localhost] [--url http://erp.localhost:8000] [--shots docs/img]

Seeds the site with console_seed.py (a dead worker that held a job, a backlog of old queued jobs,
a failed job, a failed drill, the alerts those fire, an Ops Viewer and an Ops Operator), then as each
user opens the console the way people do (the apps screen, the awesome bar) and checks what they
see and which buttons they get; the operator acknowledges an alert; the Failed Jobs page is checked
at 1280 px. Screenshots go to --shots. The seeded state is removed at the end, pass or fail.
Prints one line per check and a summary line; exits 1 when a check failed.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
STATE = "erp_ops.api.console.state"
RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> bool:
	RESULTS.append((name, bool(ok), detail))
	print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)
	return bool(ok)


def run_seed(args, action: str) -> dict:
	out = subprocess.run(
		[os.path.join(args.bench, "env", "bin", "python"), str(HERE / "console_seed.py"), action, args.site],
		cwd=os.path.join(args.bench, "sites"),
		capture_output=True,
		text=True,
		timeout=180,
	)
	if out.returncode:
		sys.exit(f"console_seed.py {action} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
	return json.loads(out.stdout.strip().splitlines()[-1])


def login(page: Page, base: str, user: str, password: str) -> None:
	page.context.clear_cookies()
	response = page.request.post(f"{base}/api/method/login", form={"usr": user, "pwd": password})
	assert response.ok, f"login of {user} failed: {response.status}"


def wait_console(page: Page) -> None:
	page.wait_for_selector(".erp-ops-console [data-section=verdict]", timeout=30_000)
	page.wait_for_timeout(500)


def section(page: Page, key: str):
	return page.locator(f".erp-ops-console [data-section={key}]")


def common_view(page: Page, seeded: dict, who: str) -> None:
	verdict = section(page, "verdict")
	check(
		f"{who}: verdict line says Critical", "Critical" in verdict.locator(".oc-verdict-line").inner_text()
	)
	findings = verdict.locator(".oc-finding")
	severities = [findings.nth(i).get_attribute("data-severity") for i in range(findings.count())]
	order = {"critical": 0, "warning": 1, "info": 2}
	check(f"{who}: findings critical first", severities == sorted(severities, key=order.get), str(severities))
	text = verdict.inner_text()
	check(
		f"{who}: dead worker named in words", f"worker {seeded['dead_worker']} is dead:" in text, text[:400]
	)
	check(f"{who}: each finding links its runbook", verdict.locator("a.oc-runbook").count() >= 2)
	queues = section(page, "queues")
	row = queues.locator("tr", has_text=seeded["queue"].split(":", 1)[1]).first
	cells = row.locator("td").all_inner_texts()
	check(
		f"{who}: backlog queue shows 40 queued, waiting about 2 h, 0 workers",
		len(cells) >= 8 and cells[2] == "40" and re.match(r"2(\.\d)? h", cells[3]) and cells[7] == "0",
		str(cells),
	)
	workers = section(page, "workers")
	dead = workers.locator("tr", has_text=seeded["dead_worker"])
	dead_text = dead.inner_text() if dead.count() else ""
	check(
		f"{who}: dead worker marked with the job it held",
		"Dead" in dead_text and "held" in dead_text,
		dead_text,
	)
	running = section(page, "running").inner_text()
	check(
		f"{who}: the held job shows as abandoned",
		"Abandoned" in running and seeded["held_job"] in running,
		running[:300],
	)
	drill = section(page, "recovery").locator("[data-field=drill] .indicator-pill")
	check(
		f"{who}: failed drill pill is red",
		drill.count() == 1
		and "Failed" in drill.inner_text()
		and "red" in (drill.get_attribute("class") or ""),
	)
	alerts = section(page, "alerts")
	check(
		f"{who}: firing alerts listed with runbooks",
		alerts.locator("a.oc-runbook").count() >= 1,
		alerts.inner_text()[:300],
	)
	check(f"{who}: recent Ops Action Log shown", section(page, "log").locator("tr").count() >= 2)
	width = page.evaluate("document.documentElement.scrollWidth")
	check(f"{who}: the console fits 1280 px", width <= 1280, str(width))


def count_state_requests(page: Page, seconds: float) -> tuple[int, list[str]]:
	seen: list[str] = []
	page.on("request", lambda r: seen.append(r.url) if "/api/method/" in r.url else None)
	page.wait_for_timeout(int(seconds * 1000))
	state = [u for u in seen if STATE in u]
	others = [u for u in seen if STATE not in u and "erp_ops" in u]
	return len(state), others


def viewer(page: Page, args, seeded: dict) -> None:
	login(page, args.url, "ops-viewer@console.test", seeded["password"])
	# The apps screen lists ERP Ops for an Ops Viewer and opens the console.
	page.goto(f"{args.url}/apps", wait_until="networkidle")
	tile = page.get_by_text("ERP Ops", exact=True)
	check("viewer: ERP Ops on the apps screen", tile.count() >= 1)
	tile.first.click()
	wait_console(page)
	check(
		"viewer: the apps screen opens the console", page.evaluate("frappe.get_route_str()") == "ops-console"
	)
	common_view(page, seeded, "viewer")
	body = page.locator(".erp-ops-console")
	check("viewer: no Acknowledge button", body.get_by_role("button", name="Acknowledge").count() == 0)
	check("viewer: no job action buttons", body.locator("button[data-act=job]").count() == 0)
	inner = page.locator(".page-actions .inner-group-button, .page-actions .custom-actions button")
	labels = " ".join(inner.all_inner_texts())
	check("viewer: no Bulk or Run menus", "Bulk" not in labels and "Run" not in labels, labels)
	n, others = count_state_requests(page, 11)
	check(
		"viewer: live refresh, one request each, nothing else",
		n >= 2 and not others,
		f"{n} state, others {others}",
	)
	page.screenshot(path=str(Path(args.shots) / "ops-console-viewer.png"), full_page=True)
	# The server refuses what the page does not offer.
	csrf = page.evaluate("frappe.csrf_token")
	refused = page.request.post(
		f"{args.url}/api/method/erp_ops.api.alerts.acknowledge",
		form={"name": seeded["firing"][0] if seeded["firing"] else "x", "note": "viewer tries"},
		headers={"X-Frappe-CSRF-Token": csrf},
	)
	check("viewer: acknowledging over the API is refused (403)", refused.status == 403, str(refused.status))
	# The workspace leads to the console; the status cards no longer look healthy by colour.
	page.evaluate("frappe.set_route('operations')")
	page.wait_for_selector(".codex-editor .widget", timeout=30_000)
	page.wait_for_timeout(2500)
	check(
		"viewer: Operations workspace has the Ops Console shortcut",
		page.locator(".shortcut-widget-box", has_text="Ops Console").count() == 1,
	)
	page.screenshot(path=str(Path(args.shots) / "operations-workspace.png"), full_page=True)


def operator(page: Page, args, seeded: dict) -> None:
	login(page, args.url, "ops-operator@console.test", seeded["password"])
	page.goto(f"{args.url}/apps", wait_until="networkidle")
	page.get_by_text("ERP Ops", exact=True).first.click()
	wait_console(page)
	# The awesome bar finds the page too.
	page.evaluate("frappe.set_route('operations')")
	page.wait_for_timeout(1500)
	bar = page.locator("#navbar-search")
	bar.click()
	bar.fill("Ops Console")
	page.wait_for_selector(".awesomplete li", timeout=10_000)
	option = page.locator(".awesomplete li", has_text="Ops Console").first
	check("operator: awesome bar offers Ops Console", option.count() == 1)
	option.click()
	wait_console(page)
	check("operator: awesome bar opens the console", page.evaluate("frappe.get_route_str()") == "ops-console")
	common_view(page, seeded, "operator")
	check(
		"operator: Cancel on started jobs",
		section(page, "running").get_by_role("button", name="Cancel").count() >= 1,
	)
	inner = page.locator(".page-actions .inner-group-button, .page-actions .custom-actions button")
	labels = " ".join(inner.all_inner_texts())
	check(
		"operator: no Bulk or Run menus (managers only)", "Bulk" not in labels and "Run" not in labels, labels
	)
	ack = section(page, "alerts").get_by_role("button", name="Acknowledge")
	check("operator: Acknowledge on firing alerts", ack.count() >= 1)
	# Acknowledge one the seed fired (the backlog queue's), not somebody else's alert.
	ack = (
		section(page, "alerts")
		.locator("tr", has_text=seeded["queue"].split(":", 1)[1])
		.get_by_role("button", name="Acknowledge")
	)
	page.screenshot(path=str(Path(args.shots) / "ops-console-operator.png"), full_page=True)
	check("operator: the seeded backlog alert offers Acknowledge", ack.count() >= 1)
	if ack.count():
		ack.first.click()
		dialog = page.locator(".modal.show")
		dialog.locator("textarea").fill("browser test: seen, working on it")
		dialog.get_by_role("button", name="Acknowledge").click()
		page.wait_for_selector(
			".erp-ops-console [data-section=alerts] :text('acknowledged by')", timeout=20_000
		)
		log = section(page, "log").inner_text()
		check("operator: acknowledgement recorded and logged", "acknowledge" in log.lower(), log[:300])
	# The Failed Jobs page fits 1280 px with its actions in view.
	page.evaluate("frappe.set_route('failed-jobs')")
	page.wait_for_selector(".erp-ops-failed-jobs .fj-table", timeout=30_000)
	page.wait_for_timeout(500)
	fits = page.evaluate(
		"""() => {
			const t = document.querySelector('.erp-ops-failed-jobs .fj-table');
			const c = t.parentElement;
			const b = [...document.querySelectorAll('.erp-ops-failed-jobs [data-action=quarantine]')];
			return {table: t.scrollWidth, box: c.clientWidth, doc: document.documentElement.scrollWidth,
				right: Math.max(...b.map(x => x.getBoundingClientRect().right)), buttons: b.length,
				title: document.querySelector('.erp-ops-failed-jobs .fj-cut[title*="a_1280_px_screen"]') !== null};
		}"""
	)
	check(
		"operator: Failed Jobs fits 1280 px, actions visible, cut values keep their title",
		fits["buttons"] >= 1
		and fits["table"] <= fits["box"] + 1
		and fits["doc"] <= 1280
		and fits["right"] <= 1280
		and fits["title"],
		str(fits),
	)
	page.screenshot(path=str(Path(args.shots) / "failed-jobs-1280.png"), full_page=False)


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--bench", default="/root/frappe-bench")
	parser.add_argument("--site", default="erp.localhost")
	parser.add_argument("--url", default="http://erp.localhost:8000")
	parser.add_argument("--shots", default=str(ROOT / "docs" / "img"))
	args = parser.parse_args()
	Path(args.shots).mkdir(parents=True, exist_ok=True)
	seeded = run_seed(args, "seed")
	print("seeded:", json.dumps({k: v for k, v in seeded.items() if k != "password"}), flush=True)
	try:
		with sync_playwright() as p:
			browser = p.chromium.launch(
				executable_path="/usr/bin/chromium",
				headless=True,
				args=["--no-sandbox", "--disable-dev-shm-usage"],
			)
			for role, run in (("viewer", viewer), ("operator", operator)):
				context = browser.new_context(viewport={"width": 1280, "height": 1000})
				page = context.new_page()
				try:
					run(page, args, seeded)
				except Exception as e:  # a broken step is a failed check, the other role still runs
					check(f"{role}: ran to the end", False, f"{type(e).__name__}: {e}")
					page.screenshot(path=f"/tmp/console-browser-{role}-error.png", full_page=True)
				context.close()
			browser.close()
	finally:
		cleaned = run_seed(args, "clean")
		print("cleaned:", json.dumps(cleaned), flush=True)
	failed = [name for name, ok, _ in RESULTS if not ok]
	print(f"console_browser: {len(RESULTS) - len(failed)} passed, {len(failed)} failed")
	sys.exit(1 if failed else 0)


if __name__ == "__main__":
	main()
