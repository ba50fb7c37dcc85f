#!/usr/bin/env bash
# A new user's first ten minutes: the README's fresh-clone block (after `<!-- fresh-install -->`),
# word for word, in a fresh clone of this checkout's HEAD and a fresh venv, against the machine's
# Redis and MariaDB. Exits non-zero unless every command passes; ends with one name=value line.
#
#   bash benchmarks/fresh_install.sh        (ERP_OPS_TEST_MARIADB and ERP_OPS_CI_REDIS_DB optional)
#
# Only the clone line differs: it clones this checkout instead of the README's placeholder URL.
# Its Redis database is claimed like .ci/run claims one (.ci/claim.sh); its MariaDB databases are
# named erp_ops_test_<run id>_… and dropped afterwards.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/erp_ops_fresh.XXXXXX)
RUN_ID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
source "$ROOT/.ci/claim.sh"
CLAIMED=""

cleanup() {
	local rc=$?
	if [ -x "$WORK/erp_ops/.venv/bin/python" ]; then
		"$WORK/erp_ops/.venv/bin/python" - "${ERP_OPS_TEST_REDIS:-}" "${ERP_OPS_TEST_MARIADB:-}" "$ERP_OPS_TEST_DB_PREFIX" <<'PY' || true
import sys
from urllib.parse import urlparse
import pymysql, redis
url, db_url, prefix = sys.argv[1:4]
if url:
    redis.Redis.from_url(url).flushdb()
if db_url:
    u = urlparse(db_url)
    c = pymysql.connect(host=u.hostname, port=u.port or 3306, user=u.username or "root", password=u.password or "", autocommit=True)
    with c.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE %s", (prefix.replace("_", "\\_") + "%",))
        for (name,) in cur.fetchall():
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
PY
	fi
	[ -n "$CLAIMED" ] && release_redis_db 6379 "$CLAIMED" "$RUN_ID"
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT

if [ -n "${ERP_OPS_CI_REDIS_DB:-}" ]; then
	db=$ERP_OPS_CI_REDIS_DB
else
	db=$(claim_redis_db 6379 "$RUN_ID") || { echo "no free Redis database on 127.0.0.1:6379" >&2; exit 1; }
	CLAIMED=$db
fi
export ERP_OPS_TEST_REDIS="redis://127.0.0.1:6379/$db"
export ERP_OPS_TEST_MARIADB=${ERP_OPS_TEST_MARIADB:-mysql://root:@127.0.0.1:3306}
export ERP_OPS_TEST_DB_PREFIX="erp_ops_test_${RUN_ID}_"

block=$(awk '/<!-- fresh-install -->/ {found = 1; next} found && /^```bash/ {inside = 1; next} inside && /^```/ {exit} inside {print}' "$ROOT/README.md")
clone=$(printf '%s\n' "$block" | head -n 1)
[[ "$clone" == "git clone "*" && cd erp_ops" ]] || { echo "the README's block does not start with its clone line" >&2; exit 1; }
commands=$(printf '%s\n' "$block" | tail -n +2)

cd "$WORK"
git clone -q "$ROOT" erp_ops && cd erp_ops
# A venv of its own: never the caller's (an activated venv's python would be reused).
unset VIRTUAL_ENV PYTHONPATH
started=$(date +%s)
printf '%s\n' "$commands" | sed 's/^/[fresh] $ /' >&2
bash -euo pipefail -c "$commands" 2>&1 | tee "$WORK/run.log"
seconds=$(($(date +%s) - started))
versions=$(.venv/bin/python -c 'import rq, redis, sys; print(f"rq={rq.__version__} redis={redis.__version__} python={sys.version.split()[0]}")')
summary=$(grep -E '^[=]* ?[0-9]+ passed' "$WORK/run.log" | tail -n 1 | tr -d '=' | xargs)
passed=$(printf '%s' "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
echo "fresh_install=passed seconds=$seconds $versions tests_passed=${passed:-0}"
