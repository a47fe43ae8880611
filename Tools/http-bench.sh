#!/usr/bin/env bash
# HTTP load: `msgstore serve` against a bare Hummingbird route, in one run.
#
#   Tools/http-bench.sh            (make bench-http)
#
# Builds the release msgstore and BareRoute (Benchmarks/BareRoute: the same
# routes, JSON shapes and statuses on Hummingbird, with no storage), starts
# each server on a free port (msgstore on a new temporary data directory),
# creates users and groups through each one's API and pre-fills msgstore's
# inboxes (Tools/http-load/setup.py), then runs wrk with
# Tools/http-load/load.lua for each scenario and connection count against
# each server in turn (after waiting for the servers to be idle), so that a
# row's figures share the machine's conditions, and stops the servers with
# SIGTERM (exit status 0 expected). The PostgreSQL targets (pg: one msgstore
# serve --storage postgres; pg2: two of them on the same database, each wrk
# process loading one with half the connections) run on a PostgreSQL server the
# script starts for the run (initdb into a temporary directory, as the user
# nobody when root; durable settings: fsync and synchronous_commit on). Scenarios: send (direct messages to random users), read (inbox
# pages of random users), mix (80% send, 15% read, 5% group messages).
# Prints a markdown table (req/s, p50, p99, non-2xx, msgstore/bare) and leaves
# the JSON lines, wrk outputs and server logs in $OUT.
#
# Environment (defaults in brackets):
#   DURATION [10]            seconds per wrk run
#   REPEATS [1]              runs of each row per server, alternated; the table gives medians
#   CONNECTIONS ["16 64 256"]
#   SCENARIOS ["send mix read"]
#   TARGETS ["msgstore bare"]   also msgstore-mem (msgstore serve --storage memory), msgstore-scraped
#                            (msgstore, with GET /metrics scraped every SCRAPE_INTERVAL [1] s during its
#                            runs: the cost of monitoring), pg and pg2 (PostgreSQL, one and two servers;
#                            for pg2 a row's p50/p99 are the higher of the two wrk processes', req/s their sum)
#   PG_SETTINGS ["shared_buffers=1GB max_connections=200"]  more postgres -c settings of the pg targets' server
#   PG_CONNECTIONS [16]      msgstore serve --database-connections of each pg target server
#   SYNC [always]            msgstore serve --sync (always | none)
#   MSGSTORE_ARGS []         more options for msgstore serve (default has --no-request-log)
#   N_USERS [1000] N_GROUPS [50] GROUP_SIZE [10]
#   CONTENT_BYTES [100]      message content length
#   READ_LIMIT [20]          inbox page size of the reads (limit=)
#   PREFILL [$READ_LIMIT]    messages sent to every user before the runs (msgstore only)
#   BARE_PAGE_ENCODING [direct]  BareRoute's inbox pages: direct (bytes into the buffer, as msgstore
#                            writes them) or encoder (JSONEncoder)
#   WRK_THREADS [2]
#   STATUS_DETAIL [0]        1: count non-2xx by class (4xx, 5xx) in wrk's Lua; costs wrk ~1/3 of its rate
#   OUT [/tmp/msgstore-http-bench]
#   PERF [0]                 1: perf record PERF_TARGET [msgstore] during PERF_SCENARIOS ["send"] at PERF_CONNECTIONS [64]:
#                            $OUT/perf-SCENARIO.data and the report $OUT/perf-SCENARIO.txt
#   BUILD [1]                0: use the binaries already built
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

DURATION=${DURATION:-10}
REPEATS=${REPEATS:-1}
CONNECTIONS=${CONNECTIONS:-16 64 256}
SCENARIOS=${SCENARIOS:-send mix read}
TARGETS=${TARGETS:-msgstore bare}
SYNC=${SYNC:-always}
MSGSTORE_ARGS=${MSGSTORE_ARGS:-}
N_USERS=${N_USERS:-1000}
N_GROUPS=${N_GROUPS:-50}
GROUP_SIZE=${GROUP_SIZE:-10}
CONTENT_BYTES=${CONTENT_BYTES:-100}
READ_LIMIT=${READ_LIMIT:-20}
PREFILL=${PREFILL:-$READ_LIMIT}
BARE_PAGE_ENCODING=${BARE_PAGE_ENCODING:-direct}
WRK_THREADS=${WRK_THREADS:-2}
STATUS_DETAIL=${STATUS_DETAIL:-0}
OUT=${OUT:-/tmp/msgstore-http-bench}
PERF=${PERF:-0}
PERF_CONNECTIONS=${PERF_CONNECTIONS:-64}
PERF_SCENARIOS=${PERF_SCENARIOS:-send}
PERF_TARGET=${PERF_TARGET:-msgstore}
BUILD=${BUILD:-1}
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-1}
PG_SETTINGS=${PG_SETTINGS:-shared_buffers=1GB max_connections=200}
PG_CONNECTIONS=${PG_CONNECTIONS:-16}

log() { echo "http-bench: $*" >&2; }

# wrk (Debian's package), installed when missing.
if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq wrk >/dev/null 2>&1 \
    || { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq wrk >/dev/null; }
fi
if [ "$PERF" = 1 ] && ! command -v perf >/dev/null 2>&1; then
  log "PERF=1 needs perf (apt-get install linux-perf)"; exit 1
fi

if [ "$BUILD" = 1 ]; then
  Tools/install-deps.sh
  log "building msgstore (release)"
  swift build -c release --product msgstore >&2
  if [[ " $TARGETS " == *" bare "* ]]; then
    log "building BareRoute (release, Benchmarks/)"
    (cd Benchmarks && swift build -c release --product BareRoute >&2)
  fi
fi
msgstore="$(swift build -c release --show-bin-path)/msgstore"
bare="$(cd Benchmarks && swift build -c release --show-bin-path)/BareRoute"
[ -x "$msgstore" ] || { log "missing $msgstore (BUILD=1)"; exit 1; }
[[ " $TARGETS " != *" bare "* ]] || [ -x "$bare" ] || { log "missing $bare (BUILD=1)"; exit 1; }

mkdir -p "$OUT"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results="$OUT/results.jsonl"
: >"$results"
work=$(mktemp -d /tmp/msgstore-http-bench.XXXXXX)
declare -A pids urls

# stop_server NAME: SIGTERM, up to 15 s, then SIGKILL; returns the exit status.
stop_server() {
  local pid=${pids[$1]:-} status=0
  [ -n "$pid" ] || return 0
  unset "pids[$1]"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1 (pid $pid) still running 15 s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || status=$?
  return "$status"
}
pg_bin="" pg_port=""
# As root, PostgreSQL's own programs run as nobody (postgres refuses root).
pg_run() {
  if [ "$(id -u)" -eq 0 ]; then (cd /tmp && runuser -u nobody -- "$@"); else "$@"; fi
}
cleanup() {
  for name in "${!pids[@]}"; do stop_server "$name" || true; done
  [ -z "$pg_port" ] || pg_run "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME: starts it on a free port; sets pids[NAME] and urls[NAME].
start_server() {
  local name=$1 out="$OUT/$1.stdout" err="$OUT/$1.stderr"
  case $name in
    msgstore)
      # shellcheck disable=SC2086
      "$msgstore" serve --data "$work/data" --host 127.0.0.1 --port 0 --sync "$SYNC" --no-request-log $MSGSTORE_ARGS \
        >"$out" 2>"$err" &
      ;;
    msgstore-scraped)
      # shellcheck disable=SC2086
      "$msgstore" serve --data "$work/data-scraped" --host 127.0.0.1 --port 0 --sync "$SYNC" --no-request-log $MSGSTORE_ARGS \
        >"$out" 2>"$err" &
      ;;
    pg|pg2|pg2-b)
      local database=${name%-b}
      # shellcheck disable=SC2086
      "$msgstore" serve --storage postgres --database-url "postgres://postgres@127.0.0.1:$pg_port/$database?sslmode=disable" \
        --database-connections "$PG_CONNECTIONS" --host 127.0.0.1 --port 0 --no-request-log $MSGSTORE_ARGS >"$out" 2>"$err" &
      ;;
    msgstore-mem)
      # shellcheck disable=SC2086
      "$msgstore" serve --storage memory --host 127.0.0.1 --port 0 --no-request-log $MSGSTORE_ARGS >"$out" 2>"$err" &
      ;;
    bare)
      "$bare" --host 127.0.0.1 --port 0 --page-content-bytes "$CONTENT_BYTES" --page-encoding "$BARE_PAGE_ENCODING" \
        >"$out" 2>"$err" &
      ;;
    *) log "unknown target $name (msgstore, msgstore-scraped, msgstore-mem, bare)"; exit 1 ;;
  esac
  local pid=$! port=""
  pids[$name]=$pid
  for _ in $(seq 300); do
    port=$(sed -n '/listening on http:/{s|.*listening on http://[^ ]*:\([0-9][0-9]*\).*|\1|p;q;}' "$out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { log "$name exited at start:"; cat "$err" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { log "$name did not start in 30 s"; exit 1; }
  urls[$name]="http://127.0.0.1:$port"
  log "$name listening on ${urls[$name]} (pid $pid)"
}

# CPU time (clock ticks) the servers have used so far.
servers_cpu() {
  local total=0 pid
  for pid in "${pids[@]}"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# CPU time (clock ticks) of the pg targets' PostgreSQL server so far: the postmaster, its
# children that ended (cutime, cstime) and those alive (the backends).
pg_cpu() {
  [ -n "$pg_port" ] || { echo 0; return; }
  local postmaster total child
  postmaster=$(head -1 "$work/pg/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat" 2>/dev/null || echo 0)
  for child in $(cat "/proc/$postmaster/task/$postmaster/children" 2>/dev/null); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# Waits (at most 20 s) until the servers are idle: under 5% of a core for
# half a second, so that a server's background work (flushes, compaction,
# fan-out) left from its last run does not land in the next server's run.
wait_idle() {
  local ticks before after
  ticks=$(getconf CLK_TCK)
  for _ in $(seq 40); do
    before=$(servers_cpu); sleep 0.5; after=$(servers_cpu)
    [ $(((after - before) * 100)) -le $((ticks * 5 / 2)) ] && return 0
  done
  log "servers still busy after 20 s; going on"
}

# The PostgreSQL server of the pg targets: a database per target.
if [[ " $TARGETS " == *" pg"* ]]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$pg_bin/initdb" ] || { log "PostgreSQL not found in /usr/lib/postgresql/*/bin (Tools/install-deps.sh installs it)"; exit 1; }
  mkdir -p "$work/pg"
  [ "$(id -u)" -ne 0 ] || chown nobody "$work" "$work/pg"
  pg_run "$pg_bin/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 >"$OUT/pg-initdb.log"
  pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  pg_options="-c port=$pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work/pg"
  for setting in $PG_SETTINGS; do pg_options+=" -c $setting"; done
  pg_run "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -o "$pg_options" start >/dev/null
  log "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port ($PG_SETTINGS)"
  for target in $TARGETS; do
    case $target in pg|pg2) "$pg_bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c "CREATE DATABASE $target" ;; esac
  done
fi
for target in $TARGETS; do
  start_server "$target"
  [ "$target" != pg2 ] || start_server pg2-b
done
for target in $TARGETS; do
  mkdir -p "$work/ids-$target"
  prefill=$PREFILL
  [ "$target" = bare ] && prefill=0
  python3 Tools/http-load/setup.py --url "${urls[$target]}" --out "$work/ids-$target" --users "$N_USERS" \
    --groups "$N_GROUPS" --members "$GROUP_SIZE" --prefill "$prefill" --content-bytes "$CONTENT_BYTES"
done

# Every scenario and connection count runs against each server in turn
# (REPEATS times), so that the servers' figures of a row are taken under the
# same conditions.
for scenario in $SCENARIOS; do
  for connections in $CONNECTIONS; do
    threads=$WRK_THREADS
    [ "$connections" -lt "$threads" ] && threads=$connections
    # shellcheck disable=SC2086
    for run in $(for repeat in $(seq "$REPEATS"); do printf "$repeat:%s " $TARGETS; done); do
      repeat=${run%%:*} target=${run#*:}
      url=${urls[$target]}
      wait_idle
      wrk_out="$OUT/$target-$scenario-c$connections-$repeat.txt"
      perf_pid=""
      if [ "$PERF" = 1 ] && [ "$target" = "$PERF_TARGET" ] && [[ " $PERF_SCENARIOS " == *" $scenario "* ]] \
        && [ "$connections" = "$PERF_CONNECTIONS" ] && [ "$repeat" = 1 ]; then
        (sleep 1; exec perf record -F 499 -g -p "${pids[$target]}" -o "$OUT/perf-$scenario.data" \
          -- sleep $((DURATION > 3 ? DURATION - 2 : 1))) >"$OUT/perf-record.log" 2>&1 &
        perf_pid=$!
      fi
      log "$target $scenario c=$connections ${DURATION}s (run $repeat/$REPEATS)"
      cpu_before=$(servers_cpu) db_before=$(pg_cpu)
      if [ "$target" = pg2 ]; then
        # Two servers: one wrk each, half the connections (and threads) each, at the same time.
        half_threads=$((threads > 1 ? threads / 2 : 1))
        wrk_pids=()
        for part in pg2 pg2-b; do
          wrk -t "$half_threads" -c $((connections / 2)) -d "${DURATION}s" --timeout 10s -s Tools/http-load/load.lua "${urls[$part]}" \
            -- "$scenario" "$work/ids-$target" "$CONTENT_BYTES" "$READ_LIMIT" "$([ "$STATUS_DETAIL" = 1 ] && echo status)" \
            >"$wrk_out.$part" &
          wrk_pids+=($!)
        done
        wait "${wrk_pids[@]}"
        json=$(python3 Tools/http-load/combine.py "$wrk_out.pg2" "$wrk_out.pg2-b")
        cat "$wrk_out.pg2" "$wrk_out.pg2-b" >"$wrk_out"
      else
        scraper=""
        if [ "$target" = msgstore-scraped ]; then
          (while :; do curl -s -o /dev/null "$url/metrics"; sleep "$SCRAPE_INTERVAL"; done) &
          scraper=$!
        fi
        wrk -t "$threads" -c "$connections" -d "${DURATION}s" --timeout 10s -s Tools/http-load/load.lua "$url" \
          -- "$scenario" "$work/ids-$target" "$CONTENT_BYTES" "$READ_LIMIT" "$([ "$STATUS_DETAIL" = 1 ] && echo status)" \
          >"$wrk_out"
        if [ -n "$scraper" ]; then kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; fi
        json=$(sed -n 's/^JSON //p' "$wrk_out")
      fi
      [ -z "$perf_pid" ] || wait "$perf_pid" || log "perf record failed: $(tail -3 "$OUT/perf-record.log")"
      [ -n "$json" ] || { log "no result from wrk:"; cat "$wrk_out" >&2; exit 1; }
      # CPU seconds used during the run by every msgstore server (all targets are up; the others
      # idle) and by PostgreSQL: per request, the capacity sketch of docs/scaling.md.
      ticks=$(getconf CLK_TCK)
      extra=$(awk -v s="$(( $(servers_cpu) - cpu_before ))" -v d="$(( $(pg_cpu) - db_before ))" -v t="$ticks" \
        'BEGIN { printf ",\"servers_cpu_s\":%.2f,\"db_cpu_s\":%.2f", s / t, d / t }')
      if [ "$target" != bare ]; then
        queue=$(curl -s "$url/admin/queues/fanout" || echo null)
        extra+=",\"fanout_after\":${queue:-null}"
      fi
      sync=n/a
      [[ "$target" == msgstore || "$target" == msgstore-scraped ]] && sync=$SYNC
      [[ "$target" == pg* ]] && sync=postgres
      echo "{\"server\":\"$target\",\"scenario\":\"$scenario\",\"connections\":$connections,\"repeat\":$repeat,\"sync\":\"$sync\",\"duration\":$DURATION${extra},${json#\{}" \
        >>"$results"
    done
  done
done

for target in $TARGETS $([[ " $TARGETS " == *" pg2 "* ]] && echo pg2-b); do
  if ! stop_server "$target"; then log "$target did not exit with status 0 on SIGTERM"; exit 1; fi
  errors=$(grep -ci 'error' "$OUT/$target.stderr" || true)
  [ "$errors" = 0 ] || log "$target logged $errors lines with 'error' (see $OUT/$target.stderr)"
done

if [ "$PERF" = 1 ]; then
  for scenario in $PERF_SCENARIOS; do
    data="$OUT/perf-$scenario.data"
    [ -f "$data" ] || continue
    perf_report() {
      perf report -i "$data" -g none --stdio "$@" 2>/dev/null | grep '%' | grep -v '^#' \
        | swift demangle --simplified | sed -E 's/[[:space:]]+$//; s/[[:space:]]+-[[:space:]]+-$//' | cut -c1-200
    }
    {
      echo "== msgstore during $scenario at $PERF_CONNECTIONS connections: CPU by thread"
      perf_report --no-children --sort comm
      echo; echo "== self time, top 40"
      perf_report --no-children --sort dso,symbol | head -40 || true
      echo; echo "== inclusive time (with callees), top 80"
      perf_report --children --sort symbol --percent-limit 1 | head -80 || true
    } >"$OUT/perf-$scenario.txt"
    log "perf: msgstore's profile during $scenario c=$PERF_CONNECTIONS in $OUT/perf-$scenario.txt ($data)"
  done
fi

echo
echo "HTTP load: $DURATION s a run ($REPEATS a row and server), wrk -t$WRK_THREADS, $N_USERS users, $N_GROUPS groups x $GROUP_SIZE, content $CONTENT_BYTES B, read limit $READ_LIMIT, msgstore --sync $SYNC"
echo "machine: $(nproc) cores, load average before the runs $load_before, after $(cut -d' ' -f1-3 /proc/loadavg) (server and wrk share the cores)"
echo
python3 Tools/http-load/summarize.py "$results"
echo
echo "JSON lines ($results):"
cat "$results"
