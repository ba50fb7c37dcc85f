"""Fixtures of the drill tests: a Frappe-like source site on the real MariaDB and its backups."""

import time

import pymysql
import pytest

from erp_ops.core.drills.client import MariaDBClient, MariaDBTarget
from erp_ops.core.drills.discovery import latest_backup_set
from erp_ops.core.drills.manifest import record_manifest
from tests.conftest import mysql_kwargs, scratch_database_name
from tests.support.frappe_backup import create_site_schema, scratch_databases, take_backup

SITE = "erp.example.com"
SCRATCH_GRACE_S = 30  # how long another run's drill may keep its scratch database


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


@pytest.fixture
def no_scratch_left(mariadb_url):
	"""Fails the test when a scratch database is left behind on the server.

	The server is shared: another run's drill may create (and soon drop) its own scratch database
	meanwhile. A new one still there after a grace period is what this test left behind.
	"""
	kwargs = mysql_kwargs(mariadb_url)
	before = set(scratch_databases(kwargs))
	yield
	deadline = time.monotonic() + SCRATCH_GRACE_S
	left = set(scratch_databases(kwargs)) - before
	while left and time.monotonic() < deadline:
		time.sleep(0.5)
		left &= set(scratch_databases(kwargs))
	assert not left, f"scratch databases left behind: {left}"
