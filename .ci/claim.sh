# Sourced by .ci/run and benchmarks/fresh_install.sh: a Redis database of our own on a shared server.
#
# The tests flush the database they are given, so two runs (or a colleague's tests) must never get
# the same one. A run claims database N with `SET erp_ops:ci:redis-db:N <run id> NX EX 14400` in
# db 0 and takes it only if it is empty too (someone who does not claim may be using it); the claim
# is released (only if still ours) when the run ends. ERP_OPS_CI_REDIS_DB names one instead.
# Plain bash (/dev/tcp, Redis's inline commands): no client needed before the environments exist.

CLAIM_TTL_S=${CLAIM_TTL_S:-14400}

redis_call() {  # redis_call PORT DB COMMAND...: the first line of the reply
	local port=$1 db=$2 reply
	shift 2
	{ exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
	printf 'SELECT %s\r\n%s\r\n' "$db" "$*" >&3
	read -r -t 5 reply <&3 || true  # +OK of SELECT
	read -r -t 5 reply <&3 || true
	exec 3>&-
	printf '%s' "${reply%$'\r'}"
}

claim_redis_db() {  # claim_redis_db PORT RUN_ID: prints the database claimed, or fails
	local port=$1 run_id=$2 db
	for db in 13 15 14 12 11 10 9 8 7 6 5 4 3 2 1; do
		[ "$(redis_call "$port" 0 SET "erp_ops:ci:redis-db:$db" "$run_id" NX EX "$CLAIM_TTL_S")" = "+OK" ] || continue
		if [ "$(redis_call "$port" "$db" DBSIZE)" = ":0" ]; then
			echo "$db"
			return 0
		fi
		release_redis_db "$port" "$db" "$run_id"  # in use by someone who did not claim it
	done
	return 1
}

release_redis_db() {  # release_redis_db PORT DB RUN_ID: drop the claim if it is still ours
	redis_call "$1" 0 EVAL "\"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0\"" 1 "erp_ops:ci:redis-db:$2" "$3" >/dev/null || true
}
