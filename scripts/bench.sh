#!/usr/bin/env bash
# Load benchmark of the gateway (docs/governance.md): prints figures, asserts nothing.
#
#   scripts/bench.sh
#
# 1. starts a private redis-server on a free loopback port (no persistence),
# 2. indexes BENCH_RECORDS (default 1,000,000) synthetic UK contacts in it under the shipped rules,
# 3. starts the gateway (redis index backend keeping a replica of the index in the gateway,
#    index.redis.replica; audit trail in the same Redis; info logging to a file) and a no-op
#    echo server, both on loopback,
# 4. drives POST /webhooks/dataverse of both with RemoteExecutionContext Create payloads (30% re-entries
#    of indexed contacts, 70% new people): a fixed rate (BENCH_RATE, default 1,000/s) and a
#    closed-loop peak at each of BENCH_CONNS requests in flight (default 32,64,128; the best is
#    the peak), and prints decisions/s, p50/p90/p99,
#    Redis round trips per decision and the gateway/no-op throughput ratio,
# 5. takes a CPU profile of the gateway during the first peak phase and prints its top entries.
#
# Environment: BENCH_RECORDS, BENCH_RATE, BENCH_CONNS, BENCH_FIXED (20s), BENCH_PEAK (10s a level),
# BENCH_DUP (0.3), BENCH_PER_KEY_LIMIT (the gateway's decision.per_key_limit, default 200: a
# diagnostic knob, it trades recall for speed), BENCH_GOGC (the gateway's GOGC; unset: serve's
# own choice, 400 with a Redis index), BENCH_GOMAXPROCS, BENCH_GOMEMLIMIT, BENCH_GODEBUG (the
# gateway's other runtime settings), BENCH_TIMELINE=FILE (every fixed-rate request: due time,
# latency, outcome), BENCH_KEEP=1 keeps the work folder (logs, profile), BENCH_RDB=FILE reuses
# an index snapshot: when FILE exists Redis starts from it instead of indexing (it must hold
# BENCH_RECORDS contacts, made by this script), otherwise the fresh index is saved there (for
# quicker A/B runs). BENCH_INDEX=memory runs the same load against the gateway's in-process
# index instead (the embedded default; the gateway files the BENCH_RECORDS contacts itself
# before it listens, and keeps its audit trail in memory): what the decisions cost without
# a Redis read, for comparison. BENCH_INDEX=replica (the default) indexes in Redis, and the
# gateway keeps a replica of it (index.redis.replica: loaded from Redis before it listens,
# then kept by the change feed; reservations claimed in Redis); BENCH_INDEX=redis has the
# gateway read every decision's candidates from Redis instead (replica: false).
# Needs go and redis-server (apt-get install -y redis-server). Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

records=${BENCH_RECORDS:-1000000}
rate=${BENCH_RATE:-1000}
conns=${BENCH_CONNS:-32,64,128}
fixed=${BENCH_FIXED:-20s}
peak=${BENCH_PEAK:-10s}
dup=${BENCH_DUP:-0.3}
redis_server=${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}
[ -x "$redis_server" ] || { echo "bench: redis-server not found (apt-get install -y redis-server)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dedupegate-bench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${BENCH_KEEP:-}" = 1 ]; then echo "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "building..."
go build -o "$work/dedupegate-bench" ./cmd/dedupegate-bench
bench="$work/dedupegate-bench"
port() { "$bench" port; }
wait_http() { # url [tries, 0.1 s apart]
	for _ in $(seq 1 "${2:-200}"); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: $1 did not answer" >&2
	return 1
}

rport=$(port)
backend=${BENCH_INDEX:-replica}
case "$backend" in redis | memory | replica) ;; *) echo "bench: BENCH_INDEX must be redis, memory or replica" >&2; exit 1 ;; esac
snapshot=no
if [ "$backend" != memory ] && [ -n "${BENCH_RDB:-}" ] && [ -s "$BENCH_RDB" ]; then
	cp "$BENCH_RDB" "$work/dump.rdb"
	snapshot=yes
fi
"$redis_server" --port "$rport" --bind 127.0.0.1 --protected-mode yes --save "" --appendonly no \
	--dir "$work" --dbfilename dump.rdb --logfile "$work/redis.log" --daemonize no &
pids+=($!)
redis_pid=$!
for _ in $(seq 1 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null; then break; fi
	sleep 0.05
done

echo "== dedupegate load benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(go version | cut -d' ' -f3), $("$redis_server" --version | cut -d' ' -f3)"
echo "machine load before: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-minute load average; above ~2 other work shares these 2 cores)"
if [ "$backend" = memory ]; then
	echo "index: in the gateway's memory (BENCH_INDEX=memory); it files $records contacts before it listens"
elif [ "$snapshot" = yes ]; then
	until [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ]; do sleep 0.2; done
	echo "index: started from the snapshot $BENCH_RDB ($(redis-cli -p "$rport" dbsize) keys)"
else
	"$bench" load --redis "127.0.0.1:$rport" --n "$records"
	if [ -n "${BENCH_RDB:-}" ]; then
		redis-cli -p "$rport" save >/dev/null && cp "$work/dump.rdb" "$BENCH_RDB" && echo "index: snapshot saved to $BENCH_RDB"
	fi
fi

secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
gport=$(port)
pport=$(port)
nport=$(port)
cat >"$work/gateway.yaml" <<EOF
listen: 127.0.0.1:$gport
log:
  level: info
webhook:
  auth:
    secrets: [$secret]
audit:
  enabled: true
EOF
serve_args=()
if [ "$backend" = memory ]; then
	printf 'index:\n  backend: memory\n' >>"$work/gateway.yaml"
	serve_args=(--file "$records")
else
	printf 'index:\n  backend: redis\n  redis:\n    addrs: [127.0.0.1:%s]\n' "$rport" >>"$work/gateway.yaml"
	if [ "$backend" = replica ]; then
		printf '    replica: true\n' >>"$work/gateway.yaml"
		echo "gateway: keeps a replica of the Redis index (index.redis.replica), loaded before it listens"
	else
		echo "gateway: reads every decision's candidates from Redis (BENCH_INDEX=redis: no replica)"
	fi
fi
if [ -n "${BENCH_PER_KEY_LIMIT:-}" ]; then
	printf 'decision:\n  per_key_limit: %s\n' "$BENCH_PER_KEY_LIMIT" >>"$work/gateway.yaml"
	echo "gateway: decision.per_key_limit $BENCH_PER_KEY_LIMIT (default 200)"
fi
genv=()
if [ -n "${BENCH_GOGC:-}" ]; then echo "gateway: GOGC=$BENCH_GOGC"; genv+=("GOGC=$BENCH_GOGC"); fi
if [ -n "${BENCH_GOMEMLIMIT:-}" ]; then echo "gateway: GOMEMLIMIT=$BENCH_GOMEMLIMIT"; genv+=("GOMEMLIMIT=$BENCH_GOMEMLIMIT"); fi
if [ -n "${BENCH_GODEBUG:-}" ]; then echo "gateway: GODEBUG=$BENCH_GODEBUG"; genv+=("GODEBUG=$BENCH_GODEBUG"); fi
if [ -n "${BENCH_GOMAXPROCS:-}" ]; then echo "gateway: GOMAXPROCS=$BENCH_GOMAXPROCS"; genv+=("GOMAXPROCS=$BENCH_GOMAXPROCS"); fi
env "${genv[@]}" "$bench" serve --config "$work/gateway.yaml" --pprof "127.0.0.1:$pport" "${serve_args[@]}" >"$work/gateway.out" 2>"$work/gateway.log" &
pids+=($!)
gateway_pid=$!
"$bench" noop --listen "127.0.0.1:$nport" >"$work/noop.out" 2>&1 &
pids+=($!)
noop_pid=$!
wait_http "http://127.0.0.1:$gport/healthz" 6000 # in memory mode the gateway files the contacts first; a replica loads them
wait_http "http://127.0.0.1:$gport/readyz"
if [ "$backend" != redis ]; then grep -m1 '^index:' "$work/gateway.out" || true; fi

"$bench" run --gateway "http://127.0.0.1:$gport" --noop "http://127.0.0.1:$nport" --secret "$secret" \
	--redis "127.0.0.1:$rport" --n "$records" --rate "$rate" --conns "$conns" --fixed "$fixed" --peak "$peak" --dup "$dup" \
	--profile-url "http://127.0.0.1:$pport" --profile-out "$work/cpu.pprof" --gateway-pid "$gateway_pid" --redis-pid "$redis_pid" --noop-pid "$noop_pid" \
	${BENCH_TIMELINE:+--timeline "$BENCH_TIMELINE"}

if [ -s "$work/cpu.pprof" ]; then
	echo
	echo "== where the gateway's CPU went during the first peak phase (pprof -top, cumulative):"
	go tool pprof -top -cum -nodecount=30 "$bench" "$work/cpu.pprof" 2>/dev/null | sed -n '1,38p'
	echo
	echo "== flat:"
	go tool pprof -top -nodecount=20 "$bench" "$work/cpu.pprof" 2>/dev/null | sed -n '6,26p'
fi
echo
echo "gateway log lines written: $(wc -l <"$work/gateway.log")"
echo "gateway peak RSS: $(awk '/^VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$gateway_pid/status" 2>/dev/null || echo unknown)"
echo "machine load after: $(cut -d' ' -f1-3 /proc/loadavg)"
