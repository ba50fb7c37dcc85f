"""What a database holds, read the same way from the live site (for the manifest) and from the
scratch copy (for the verdict): exact row counts, DocTypes without a table, apps, patches, ledger."""

from decimal import Decimal

from erp_ops.core.drills.client import MariaDBClient, quote_ident
from erp_ops.core.models import Frozen

COUNTS_PER_STATEMENT = 200
# The scratch database's owner marker (scratch.Owner): the drill's table, not the backup's.
MARKER_TABLE = "erp_ops_drill_owner"


class LedgerTotals(Frozen):
	"""Sum of GL Entry debit and credit (company currency) of one company."""

	debit: Decimal
	credit: Decimal
	entries: int

	@property
	def difference(self) -> Decimal:
		return self.debit - self.credit


class DatabaseFacts(Frozen):
	database: str
	tables: dict[str, int]
	doctypes: int | None = None
	doctypes_without_table: list[str] = []
	apps: dict[str, str] | None = None
	patches: list[str] | None = None
	ledger: dict[str, LedgerTotals] | None = None

	def largest_tables(self, n: int = 10) -> list[str]:
		return [t for t, _ in sorted(self.tables.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def literal(value: str) -> str:
	return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def collect_facts(client: MariaDBClient, database: str, with_patches: bool = True) -> DatabaseFacts:
	"""Read the facts of `database` (exact COUNT(*) of every base table, in one client call)."""
	rows = client.query(
		"SELECT TABLE_NAME FROM information_schema.TABLES "
		f"WHERE TABLE_SCHEMA = {literal(database)} AND TABLE_TYPE = 'BASE TABLE' "
		f"AND TABLE_NAME <> {literal(MARKER_TABLE)} ORDER BY TABLE_NAME"
	)
	names = [r[0] for r in rows]
	tables = _count_rows(client, database, names)
	present = set(names)
	doctypes = missing = None
	if "tabDocType" in present:
		columns = _columns(client, database, "tabDocType")
		where = "IFNULL(issingle, 0) = 0" + (
			" AND IFNULL(is_virtual, 0) = 0" if "is_virtual" in columns else ""
		)
		doctype_names = [r[0] for r in client.query(f"SELECT name FROM `tabDocType` WHERE {where}", database)]
		doctypes = len(doctype_names)
		missing = sorted(d for d in doctype_names if f"tab{d}" not in present)
	apps = None
	if "tabInstalled Application" in present:
		apps = {
			r[0]: r[1]
			for r in client.query("SELECT app_name, app_version FROM `tabInstalled Application`", database)
		}
	patches = None
	if with_patches and "tabPatch Log" in present:
		patches = [r[0] for r in client.query("SELECT patch FROM `tabPatch Log`", database)]
	ledger = None
	if "tabGL Entry" in present:
		ledger = {
			r[0]: LedgerTotals(debit=Decimal(r[1]), credit=Decimal(r[2]), entries=int(r[3]))
			for r in client.query(
				"SELECT IFNULL(company, ''), IFNULL(SUM(debit), 0), IFNULL(SUM(credit), 0), COUNT(*) "
				"FROM `tabGL Entry` GROUP BY company",
				database,
			)
		}
	return DatabaseFacts(
		database=database,
		tables=tables,
		doctypes=doctypes,
		doctypes_without_table=missing or [],
		apps=apps,
		patches=patches,
		ledger=ledger,
	)


# Written once by `bench new-site` (install_basic_docs) and never again: a restored copy of the
# site keeps them, another site has its own (a site created by restoring this one's backup shares
# them: a clone is this site as far as a backup can tell).
IDENTITY_USERS = ("Administrator", "Guest")


def site_identity(client: MariaDBClient, database: str) -> dict[str, str] | None:
	"""The rows that identify a site: `tabUser/<user>.creation` → its creation time; None without them."""
	if "creation" not in _columns(client, database, "tabUser"):
		return None
	names = ", ".join(literal(u) for u in IDENTITY_USERS)
	rows = client.query(f"SELECT name, creation FROM `tabUser` WHERE name IN ({names})", database)
	return {f"tabUser/{name}.creation": creation for name, creation in rows} or None


def _count_rows(client: MariaDBClient, database: str, names: list[str]) -> dict[str, int]:
	if not names:
		return {}
	statements = []
	for start in range(0, len(names), COUNTS_PER_STATEMENT):
		part = range(start, min(start + COUNTS_PER_STATEMENT, len(names)))
		statements.append(
			" UNION ALL ".join(f"SELECT {i}, COUNT(*) FROM {quote_ident(names[i])}" for i in part) + ";"
		)
	counts = {}
	for index, count in client.query("\n".join(statements), database):
		counts[names[int(index)]] = int(count)
	return counts


def _columns(client: MariaDBClient, database: str, table: str) -> set[str]:
	return {
		r[0]
		for r in client.query(
			"SELECT COLUMN_NAME FROM information_schema.COLUMNS "
			f"WHERE TABLE_SCHEMA = {literal(database)} AND TABLE_NAME = {literal(table)}"
		)
	}


class LiveIdentity(Frozen):
	"""What a live site's database says about whose it is (cheap: no row counts)."""

	apps: dict[str, str] | None = None
	patches: list[str] | None = None
	fingerprint: dict[str, str] | None = None


def live_identity(client: MariaDBClient, database: str) -> LiveIdentity:
	"""Installed apps, patch log and fingerprint of a live site's database (read-only)."""
	present = {
		r[0]
		for r in client.query(
			f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {literal(database)} "
			"AND TABLE_NAME IN ('tabInstalled Application', 'tabPatch Log', 'tabUser')"
		)
	}
	apps = patches = None
	if "tabInstalled Application" in present:
		rows = client.query("SELECT app_name, app_version FROM `tabInstalled Application`", database)
		apps = {r[0]: r[1] for r in rows} or None
	if "tabPatch Log" in present:
		patches = [r[0] for r in client.query("SELECT patch FROM `tabPatch Log`", database)]
	fingerprint = site_identity(client, database) if "tabUser" in present else None
	return LiveIdentity(apps=apps, patches=patches, fingerprint=fingerprint)
