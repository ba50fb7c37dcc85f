#!/usr/bin/env bash
# The action log's chain through an install on a running bench, an uninstall + reinstall and a
# restore from backup, on a throwaway site (issues 19.9, 19.5, 20.11). Run from a bench whose
# processes are running, with erp_ops in apps/ and apps.txt:
#   tests/bench/reinstall_and_restore.sh [/root/frappe-bench] [s2.localhost] [erp_ops_s2]
# MariaDB's root account must be usable by `bench new-site` (an empty password is fed on stdin).
# Prints one line per step and `reinstall_and_restore=ok` at the end; exits 1 at the first failure.
# The site and its database are dropped at the end, whatever happened.
set -u
BENCH=${1:-/root/frappe-bench}
SITE=${2:-s2.localhost}
DB=${3:-erp_ops_s2}
cd "$BENCH" || exit 1
PY="$BENCH/env/bin/python"

fail() { echo "FAILED: $*"; exit 1; }
cleanup() { printf '\n' | bench drop-site "$SITE" --db-root-username root --no-backup --force >/dev/null 2>&1; }
trap cleanup EXIT
site_sql() { mysql -h 127.0.0.1 -u root -N -B "$DB" -e "$1"; }
verify() { bench --site "$SITE" ops verify-log 2>&1 | tail -1; }

cleanup
printf '\n' | bench new-site "$SITE" --db-name "$DB" --db-host 127.0.0.1 --db-port 3306 \
	--db-root-username root --no-mariadb-socket --admin-password admin >/dev/null 2>&1 || fail "new-site"
echo "site $SITE created (database $DB)"

# 20.11: a running bench caches Frappe's app-module map per site before the app is known; install
# must not depend on it. Cache a map without erp_ops, as a scheduler tick before `get-app` would.
(cd sites && "$PY" - "$SITE" <<'PY') || fail "could not cache a stale module map"
import sys
import frappe
frappe.init(sys.argv[1], sites_path=".")
frappe.connect()
frappe.setup_module_map()
stale = {app: modules for app, modules in frappe.local.app_modules.items() if app != "erp_ops"}
frappe.cache.set_value("app_modules", stale)
assert "erp_ops" not in frappe.cache.get_value("app_modules")
frappe.destroy()
PY
bench --site "$SITE" install-app erp_ops >/tmp/erp_ops_install.log 2>&1 || { tail -20 /tmp/erp_ops_install.log; fail "install-app with a stale module map"; }
[ "$(site_sql "select count(*) from tabDocType where module = 'ERP Ops'")" -gt 20 ] || fail "DocTypes missing after install"
[ "$(site_sql "select count(*) from tabRunbook")" -gt 0 ] || fail "runbooks not seeded"
echo "install-app with a stale module map: $(site_sql "select count(*) from tabDocType where module = 'ERP Ops'") DocTypes, $(site_sql "select count(*) from tabRunbook") runbooks"
genesis=$(site_sql "select reason from \`tabOps Action Log\` order by seq limit 1")
case "$genesis" in install:*) echo "genesis: $genesis";; *) fail "no install genesis: $genesis";; esac
v=$(verify); case "$v" in *"chain intact"*) echo "after install: $v";; *) fail "$v";; esac

# 19.8: a deleted default stays deleted through a migrate.
rule=$(site_sql "select name from \`tabOps Alert Rule\` order by name limit 1")
site_sql "delete from \`tabOps Alert Rule\` where name = '$rule'"
bench --site "$SITE" migrate >/dev/null 2>&1 || fail "migrate"
[ "$(site_sql "select count(*) from \`tabOps Alert Rule\` where name = '$rule'")" = 0 ] || fail "migrate re-created the deleted alert rule $rule"
echo "deleted alert rule '$rule' stays deleted after migrate"

# A few rows, then a backup whose manifest anchors the head.
for i in 1 2 3; do bench --site "$SITE" ops jobs requeue "$SITE::missing-$i" --reason "chain test $i" >/dev/null 2>&1; done
bench --site "$SITE" ops backup >/dev/null 2>&1 || fail "ops backup"
manifest=$(ls -t sites/"$SITE"/private/backups/*erp_ops_manifest.json | head -1)
"$PY" -c "import json,sys; a=json.load(open(sys.argv[1]))['action_log']; assert a and a['seq']>0, a; print('manifest anchors row', a['seq'])" "$manifest" || fail "manifest has no anchor"
sql=$(ls -t sites/"$SITE"/private/backups/*-database.sql.gz | head -1)
v=$(verify); case "$v" in *"chain intact"*) echo "before uninstall: $v";; *) fail "$v";; esac

# 19.9: uninstall + reinstall: the head goes with the log; the new log verifies.
bench --site "$SITE" uninstall-app erp_ops --yes --no-backup >/dev/null 2>&1 || fail "uninstall-app"
[ "$(site_sql "select count(*) from tabSingles where doctype in ('Ops Action Log', 'Ops Chain Head')")" = 0 ] || fail "a chain head survived the uninstall"
echo "uninstalled: no chain head left behind"
bench --site "$SITE" install-app erp_ops >/dev/null 2>&1 || fail "reinstall"
genesis=$(site_sql "select reason from \`tabOps Action Log\` order by seq limit 1")
case "$genesis" in reinstall:*) echo "genesis: $genesis";; *) fail "no reinstall genesis: $genesis";; esac
v=$(verify); case "$v" in *"chain intact"*) echo "after reinstall: $v";; *) fail "$v";; esac

# A restore brings back an older log than the anchors: verify-log says so until the restore is recorded.
bench --site "$SITE" ops backup >/dev/null 2>&1 || fail "ops backup"
sql=$(ls -t sites/"$SITE"/private/backups/*-database.sql.gz | head -1)
for i in 4 5; do bench --site "$SITE" ops jobs requeue "$SITE::missing-$i" --reason "after the backup $i" >/dev/null 2>&1; done
printf '\n' | bench --site "$SITE" restore "$sql" --db-root-username root >/dev/null 2>&1 || fail "restore"
v=$(verify); case "$v" in *BROKEN*"removed from its end"*) echo "after restore: $v";; *) fail "a restored (older) log was not noticed: $v";; esac
bench --site "$SITE" ops chain-restored --reason "restored $(basename "$sql") in the chain test" >/dev/null 2>&1 || fail "chain-restored"
v=$(verify); case "$v" in *"chain intact"*"restore anchor"*) echo "after ops chain-restored: $v";; *) fail "$v";; esac
echo "reinstall_and_restore=ok"
