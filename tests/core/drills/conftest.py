"""Fixtures of the drill tests: a Frappe-like source site on the real MariaDB and its backups."""

import time
import uuid

import pymysql
import pytest

from erp_ops.core.drills.client import MariaDBClient, MariaDBTarget
from erp_ops.core.drills.discovery import latest_backup_set
from erp_ops.core.drills.manifest import record_manifest
from tests.conftest import mysql_kwargs, scratch_database_name
from tests.support.frappe_backup import create_site_schema, scratch_databases, take_backup

SITE = "erp.example.com"


@pytest.fixture(scope="session")
def client(mariadb_url) -> MariaDBClient:
	return MariaDBClient(MariaDBTarget.from_url(mariadb_url))


def make_site_db(mariadb_url: str, **fill) -> tuple[dict, str]:
	kwargs = mysql_kwargs(mariadb_url)
	name = scratch_database_name()
	conn = pymysql.connect(**kwargs, autocommit=True)
	with conn.cursor() as cur:
		cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	conn.close()
	create_site_schema({**kwargs, "database": name}, **fill)
	return kwargs, name


def drop_db(kwargs: dict, name: str) -> None:
	conn = pymysql.connect(**kwargs, autocommit=True)
	with conn.cursor() as cur:
		cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
	conn.close()


@pytest.fixture(scope="module")
def source_site(mariadb_url):
	"""A filled Frappe-like site database, shared by a module's tests (they never write to it)."""
	kwargs, name = make_site_db(mariadb_url)
	yield kwargs, name
	drop_db(kwargs, name)


def backup_with_manifest(client, kwargs, db_name, sites_path, site=SITE, manifest=True, **options):
	"""`bench backup` of the site, then the manifest the Frappe layer writes after it; the BackupSet."""
	folder = take_backup(kwargs, db_name, str(sites_path), site, **options)
	found = latest_backup_set(folder, site)
	if manifest:
		record_manifest(client, found, db_name, site, options.get("encryption_key"))
	return found


@pytest.fixture(autouse=True)
def own_lock_and_owner(tmp_path, monkeypatch):
	"""Each test drills under its own owner name and host lock file (CLI subprocesses inherit them):
	its sweeps can only ever drop its own scratch databases, and drills of other helpers running
	on this host at the same time neither block it nor are blocked by it."""
	owner = f"test-{uuid.uuid4().hex[:12]}"
	monkeypatch.setenv("ERP_OPS_DRILL_OWNER", owner)
	monkeypatch.setenv("ERP_OPS_DRILL_LOCK", str(tmp_path / "drill.lock"))
	return owner


@pytest.fixture
def no_scratch_left(mariadb_url, client, own_lock_and_owner):
	"""Fails the test when it left a scratch database behind on the server: one marked with this
	test's owner, or an unmarked one that is still there seconds later (others on this shared
	server run drills of their own at the same time: their marked scratch databases are theirs)."""
	from erp_ops.core.drills.errors import DatabaseUnavailable
	from erp_ops.core.drills.scratch import read_marker

	kwargs = mysql_kwargs(mariadb_url)
	before = set(scratch_databases(kwargs))
	yield

	def ours(name: str) -> bool:
		try:
			marker = read_marker(client, name)
		except DatabaseUnavailable:  # gone, or no marker (yet)
			return name in scratch_databases(kwargs)
		return marker is None or marker.name == own_lock_and_owner

	left = {n for n in set(scratch_databases(kwargs)) - before if ours(n)}
	deadline = time.monotonic() + 5
	while left and time.monotonic() < deadline:
		time.sleep(0.5)
		left = {n for n in left if ours(n)}
	assert not left, f"scratch databases left behind: {left}"
