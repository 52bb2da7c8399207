#!/usr/bin/env bash
# scripts/bench.sh — fallbackwatch's speed figures, measured end to end on this machine:
#   1. parse/ benchmarks: the field-selective scanner against sonic, serial and parallel;
#   2. `collector replay` over a generated 1M-line corpus with routing checks on (GB/s, CPU time),
#      and its peak RSS for 1M and 5M lines; the same records rewritten as a second corpus (keys
#      in random order, whitespace, escapes, nested unknown fields: `benchtool hostile`), which
#      must give the same counts;
#   3. mtail (Debian) with the same two counters over the same files, wall and CPU time;
#   4. `collector run` consuming ~200k messages from a kfake broker with 3 partitions (records/s);
#   5. tail latency: a file appended to at 50k lines/s, marker lines timed until /metrics shows them;
#   6. tailing cost: a file appended to at 50k lines/s, followed by the collector and by mtail at
#      once: each process's CPU time per million lines and RSS.
# Prints a Markdown summary table on stdout (progress on stderr). Run from the repository root
# after `make deps`:  bash scripts/bench.sh
# Knobs (environment): BENCH_LINES (1000000), BENCH_BIG_LINES (5000000), BENCH_RUNS (3, best of),
# BENCH_KAFKA_MESSAGES (200000), BENCH_TAIL_RATE (50000), BENCH_TAIL_SECONDS (10),
# BENCH_TAIL_COST_SECONDS (20), TMPDIR.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
GO=${GO:-go}
LINES=${BENCH_LINES:-1000000}
BIG_LINES=${BENCH_BIG_LINES:-5000000}
RUNS=${BENCH_RUNS:-3}
KAFKA_N=${BENCH_KAFKA_MESSAGES:-200000}
TAIL_RATE=${BENCH_TAIL_RATE:-50000}
TAIL_SECONDS=${BENCH_TAIL_SECONDS:-10}
TAIL_COST_SECONDS=${BENCH_TAIL_COST_SECONDS:-20}
MIXED_ROUTING=internal/benchtool/testdata/mixed-routing.yaml
BOOKINFO_ROUTING=(--routing testdata/bookinfo/destinationrule.yaml --routing testdata/bookinfo/sample2.yaml)

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fallbackwatch-bench.XXXXXX")
PIDS=()
stop_pid() { # stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local pid
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do stop_pid "$pid"; done
	rm -rf "$WORK"
}
trap cleanup EXIT

# ---- tools -------------------------------------------------------------------------------------
if ! command -v mtail >/dev/null; then
	if [[ -f scripts/install-prometheus.sh ]]; then bash scripts/install-prometheus.sh >&2; fi
	command -v mtail >/dev/null || apt-get install -y mtail >&2
fi
if [[ ! -x /usr/bin/time ]]; then apt-get install -y time >&2; fi
TIME=/usr/bin/time

# timed OUT_PREFIX CMD...: runs CMD with stdout to OUT_PREFIX.out, stderr to OUT_PREFIX.err, and
# leaves "wall_seconds max_rss_kib cpu_seconds exit_status" in OUT_PREFIX.time.
timed() {
	local p=$1; shift
	local rc=0
	"$TIME" -o "$p.time" -f '%e %M %U %S %x' "$@" >"$p.out" 2>"$p.err" || rc=$?
	# GNU time writes "Command exited with non-zero status N" before the format line.
	tail -1 "$p.time" | awk '{printf "%s %s %.2f %s\n", $1, $2, $3 + $4, $5}' >"$p.t" && mv "$p.t" "$p.time"
	[[ $(field "$p.time" 4) == "$rc" ]] || die "timing $*: exit status $rc but time says $(cat "$p.time")"
	return 0
}
field() { awk -v i="$2" '{print $i}' "$1"; }
# warm FILE: reads FILE once so the timed command reads it from the page cache, as the figures
# mean to measure parsing, not the disk (this machine's memory reclaim evicts cold file pages).
warm() { cat "$1" >/dev/null; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# wait_listen LOGFILE PID: prints the address the collector logged it listens on.
wait_listen() {
	local i addr
	for i in $(seq 300); do
		addr=$(grep -o 'listen=[0-9.:]*' "$1" 2>/dev/null | head -1 | cut -d= -f2 || true)
		if [[ -n $addr ]]; then echo "$addr"; return 0; fi
		kill -0 "$2" 2>/dev/null || { cat "$1" >&2; die "collector exited before listening"; }
		sleep 0.1
	done
	die "collector did not log its listen address: $(cat "$1")"
}

# ---- machine -----------------------------------------------------------------------------------
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
NPROC=$(nproc)
GOVERSION=$($GO env GOVERSION)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $NPROC × $CPU_MODEL, $GOVERSION; $(uptime)"

# ---- 1. build and corpora ----------------------------------------------------------------------
log "building collector, gencorpus and benchtool"
$GO build -o "$WORK/bin/" ./cmd/... ./internal/corpus/cmd/gencorpus ./internal/benchtool
BIN=$WORK/bin
log "generating $LINES and $BIG_LINES line corpora (Mixed scenario)"
"$BIN/gencorpus" -n "$LINES" -o "$WORK/small.log"
"$BIN/gencorpus" -n "$BIG_LINES" -o "$WORK/big.log"
SMALL_BYTES=$(stat -c %s "$WORK/small.log")
BIG_BYTES=$(stat -c %s "$WORK/big.log")
AVG_LINE=$((SMALL_BYTES / LINES))
log "corpora: $SMALL_BYTES bytes ($AVG_LINE B/line), $BIG_BYTES bytes"
log "second corpus: the same $LINES records with keys in random order, whitespace, escapes, nested unknown fields"
"$BIN/benchtool" hostile -corpus "$WORK/small.log" -out "$WORK/hostile.log" >/dev/null
HOSTILE_BYTES=$(stat -c %s "$WORK/hostile.log")
HOSTILE_AVG=$((HOSTILE_BYTES / LINES))

# ---- 2. parse benchmarks -----------------------------------------------------------------------
log "go test ./parse -bench (fast path vs sonic)"
$GO test ./parse -run '^$' -bench . -benchmem -count 1 -benchtime "${BENCH_PARSE_BENCHTIME:-1s}" >"$WORK/parse-bench.txt"
grep '^Benchmark' "$WORK/parse-bench.txt" >&2
# bench NAME: "MB/s allocs/op" of BenchmarkNAME-<procs>
bench() {
	awk -v n="Benchmark$1" '$1 ~ "^"n"(-[0-9]+)?$" {
		mb = "-"; al = "-"
		for (i = 2; i <= NF; i++) { if ($i == "MB/s") mb = $(i-1); if ($i == "allocs/op") al = $(i-1) }
		print mb, al; exit }' "$WORK/parse-bench.txt"
}
read -r P_MB P_AL <<<"$(bench Parse)"
read -r S_MB S_AL <<<"$(bench SonicUnmarshal)"
read -r PP_MB PP_AL <<<"$(bench ParseParallel)"
read -r SP_MB SP_AL <<<"$(bench SonicUnmarshalParallel)"
P_RATIO=$(calc '%.2f' "$P_MB / $S_MB")
# The fastest serial sonic variant parse/bench_test.go has (ConfigFastest, no copy, ...): the
# baseline that does the least work for the same fields.
read -r SF_MB SF_NAME <<<"$(awk '$1 ~ /^BenchmarkSonic/ && $1 !~ /Parallel/ {
	for (i = 2; i <= NF; i++) if ($i == "MB/s") print $(i-1), $1 }' "$WORK/parse-bench.txt" | sort -rn | head -1)"
SF_NAME=${SF_NAME%-[0-9]*}
SF_RATIO=$(calc '%.2f' "$P_MB / $SF_MB")
PP_RATIO=$(calc '%.2f' "$PP_MB / $SP_MB")

# ---- 3. replay ---------------------------------------------------------------------------------
# replay_best NAME ARGS...: best wall time of RUNS replays of REPLAY_FILE (the small corpus).
replay_best() {
	local name=$1 best="" i file=${REPLAY_FILE:-$WORK/small.log}; shift
	for i in $(seq "$RUNS"); do
		warm "$file"
		timed "$WORK/$name.$i" "$BIN/collector" replay --format json "$@" "$file"
		local st; st=$(field "$WORK/$name.$i.time" 4)
		[[ $st == 0 || $st == 3 ]] || { cat "$WORK/$name.$i.err" >&2; die "replay $name exited $st"; }
		log "replay $name run $i: $(cat "$WORK/$name.$i.time") (wall s, RSS KiB, CPU s, exit)"
		if [[ -z $best ]] || awk -v a="$(field "$WORK/$name.$i.time" 1)" -v b="$(field "$best" 1)" 'BEGIN{exit !(a < b)}'; then
			best=$WORK/$name.$i.time
		fi
	done
	cp "$best" "$WORK/$name.best"
	cp "${best%.time}.out" "$WORK/$name.json"
}
log "replay, routing covering the Mixed corpus ($MIXED_ROUTING), best of $RUNS"
replay_best mixed --routing "$MIXED_ROUTING"
log "replay of the second corpus, Mixed routing, best of $RUNS"
REPLAY_FILE=$WORK/hostile.log replay_best hostile --routing "$MIXED_ROUTING"
log "replay, Bookinfo routing (most Mixed records have no VirtualService: verdict unknown)"
RUNS=1 replay_best bookinfo "${BOOKINFO_ROUTING[@]}"
log "replay without routing"
RUNS=1 replay_best norouting
log "replay of the $BIG_LINES-line corpus, routing on"
warm "$WORK/big.log"
timed "$WORK/big" "$BIN/collector" replay --format json --routing "$MIXED_ROUTING" "$WORK/big.log"
log "replay big: $(cat "$WORK/big.time")"
# The JSON report lists every inferred health interval; the text report does not, so its RSS is
# closer to what the pipeline itself keeps.
log "replay with --format text, $LINES and $BIG_LINES lines, routing on"
warm "$WORK/small.log"
timed "$WORK/text-small" "$BIN/collector" replay --format text --routing "$MIXED_ROUTING" "$WORK/small.log"
warm "$WORK/big.log"
timed "$WORK/text-big" "$BIN/collector" replay --format text --routing "$MIXED_ROUTING" "$WORK/big.log"
log "replay text: $(cat "$WORK/text-small.time"); $(cat "$WORK/text-big.time")"
HEALTH_INTERVALS=$(tr -d ' \n' <"$WORK/mixed.json" | grep -o '"healthy":' | wc -l)

verdicts() { # what the checker said about the records of a replay report
	tr -d ' \n' <"$1" | grep -o '"verdicts":{[^}]*}' | sed 's/"verdicts"://; s/"//g'
}
records() { tr -d ' \n' <"$1" | grep -o '"records":[0-9]*' | head -1 | cut -d: -f2; }
[[ $(records "$WORK/mixed.json") == "$LINES" ]] || die "replay counted $(records "$WORK/mixed.json") records, want $LINES"
MIXED_VERDICTS=$(verdicts "$WORK/mixed.json")
HOSTILE_VERDICTS=$(verdicts "$WORK/hostile.json")
[[ $(records "$WORK/hostile.json") == "$LINES" ]] || die "replay of the second corpus counted $(records "$WORK/hostile.json") records, want $LINES"
# Both corpora hold the same records: the same consistent and inconsistent verdicts up to the C6
# warnings, which a parallel replay infers per block (blocks are cut at other records in the
# longer second corpus). Verified with one worker, where they must agree exactly.
one_worker_verdicts() {
	"$BIN/collector" replay --workers 1 --format json --routing "$MIXED_ROUTING" "$1" >"$WORK/w1.json" || [[ $? == 3 ]]
	verdicts "$WORK/w1.json"
}
W1_MIXED=$(one_worker_verdicts "$WORK/small.log"); W1_HOSTILE=$(one_worker_verdicts "$WORK/hostile.log")
[[ $W1_HOSTILE == "$W1_MIXED" ]] || die "second corpus verdicts $W1_HOSTILE differ from $W1_MIXED (one worker)"
BOOKINFO_VERDICTS=$(verdicts "$WORK/bookinfo.json")
log "verdicts with Mixed routing: $MIXED_VERDICTS; with Bookinfo routing: $BOOKINFO_VERDICTS"

R_WALL=$(field "$WORK/mixed.best" 1); R_RSS=$(field "$WORK/mixed.best" 2); R_CPU=$(field "$WORK/mixed.best" 3)
R_GBS=$(calc '%.2f' "$SMALL_BYTES / $R_WALL / 1e9")
R_CPU_GBS=$(calc '%.2f' "$SMALL_BYTES / $R_CPU / 1e9")
R_CPU_PER_M=$(calc '%.2f' "$R_CPU / $LINES * 1e6")
H_WALL=$(field "$WORK/hostile.best" 1); H_CPU=$(field "$WORK/hostile.best" 3)
H_GBS=$(calc '%.2f' "$HOSTILE_BYTES / $H_WALL / 1e9")
H_CPU_PER_M=$(calc '%.2f' "$H_CPU / $LINES * 1e6")
H_LPS=$(calc '%.0f' "$LINES / $H_WALL"); R_LPS=$(calc '%.0f' "$LINES / $R_WALL")
B_WALL=$(field "$WORK/bookinfo.best" 1); B_GBS=$(calc '%.2f' "$SMALL_BYTES / $B_WALL / 1e9")
N_WALL=$(field "$WORK/norouting.best" 1); N_GBS=$(calc '%.2f' "$SMALL_BYTES / $N_WALL / 1e9")
BIG_WALL=$(field "$WORK/big.time" 1); BIG_RSS=$(field "$WORK/big.time" 2)
BIG_GBS=$(calc '%.2f' "$BIG_BYTES / $BIG_WALL / 1e9")
R_RSS_MIB=$(calc '%.1f' "$R_RSS / 1024"); BIG_RSS_MIB=$(calc '%.1f' "$BIG_RSS / 1024")
TS_RSS_MIB=$(calc '%.1f' "$(field "$WORK/text-small.time" 2) / 1024")
TB_RSS_MIB=$(calc '%.1f' "$(field "$WORK/text-big.time" 2) / 1024")

# ---- 4. mtail ----------------------------------------------------------------------------------
MTAIL_VERSION=$(mtail --version 2>&1 | head -1 | awk '{print $3}')
log "mtail $MTAIL_VERSION --one_shot over the same $LINES lines"
mkdir -p "$WORK/progs"
cp scripts/mtail/fallback.mtail "$WORK/progs/"
warm "$WORK/small.log"
timed "$WORK/mtail" mtail --one_shot --one_shot_format prometheus --logtostderr --address 127.0.0.1 --port 0 \
	--progs "$WORK/progs" --logs "$WORK/small.log"
log "mtail: $(cat "$WORK/mtail.time")"
[[ $(field "$WORK/mtail.time" 4) == 0 ]] || { tail -20 "$WORK/mtail.err" >&2; die "mtail failed"; }
MTAIL_COUNTED=$(awk '/^fallback_requests_by_result\{/ {s += $NF} END {printf "%.0f", s}' "$WORK/mtail.out")
[[ $MTAIL_COUNTED == "$LINES" ]] || die "mtail counted $MTAIL_COUNTED records by fallback_result, want $LINES"
M_WALL=$(field "$WORK/mtail.time" 1); M_CPU=$(field "$WORK/mtail.time" 3); M_RSS=$(field "$WORK/mtail.time" 2)
M_GBS=$(calc '%.3f' "$SMALL_BYTES / $M_WALL / 1e9")
M_RATIO=$(calc '%.1f' "$M_WALL / $R_WALL")
M_CPU_RATIO=$(calc '%.1f' "$M_CPU / $R_CPU")
log "mtail --one_shot over the second corpus"
warm "$WORK/hostile.log"
timed "$WORK/mtail-hostile" mtail --one_shot --one_shot_format prometheus --logtostderr --address 127.0.0.1 --port 0 \
	--progs "$WORK/progs" --logs "$WORK/hostile.log"
log "mtail second corpus: $(cat "$WORK/mtail-hostile.time")"
[[ $(field "$WORK/mtail-hostile.time" 4) == 0 ]] || { tail -20 "$WORK/mtail-hostile.err" >&2; die "mtail failed"; }
# mtail's regular expressions expect `"key":"value"`: whitespace and escapes hide records from it.
MH_COUNTED=$(awk '/^fallback_requests_by_result\{/ {s += $NF} END {printf "%.0f", s}' "$WORK/mtail-hostile.out")
MH_WALL=$(field "$WORK/mtail-hostile.time" 1); MH_CPU=$(field "$WORK/mtail-hostile.time" 3)
MH_RATIO=$(calc '%.1f' "$MH_WALL / $H_WALL"); MH_CPU_RATIO=$(calc '%.1f' "$MH_CPU / $H_CPU")

# ---- 5. Kafka ----------------------------------------------------------------------------------
log "Kafka: kfake with 3 partitions, producing $KAFKA_N messages"
"$BIN/benchtool" kafka -corpus "$WORK/small.log" -n "$KAFKA_N" -partitions 3 -topic istio-proxy-access \
	-addr-file "$WORK/kafka.addr" >"$WORK/kafka.out" 2>"$WORK/kafka.err" &
KAFKA_PID=$!
PIDS+=("$KAFKA_PID")
for i in $(seq 1200); do
	[[ -s $WORK/kafka.addr ]] && break
	kill -0 "$KAFKA_PID" 2>/dev/null || { cat "$WORK/kafka.err" >&2; die "benchtool kafka exited"; }
	sleep 0.1
done
[[ -s $WORK/kafka.addr ]] || die "kfake broker not ready after 120 s"
cat "$WORK/kafka.err" >&2
BROKERS=$(cat "$WORK/kafka.addr")
"$BIN/collector" run --web.listen-address 127.0.0.1:0 --routing "$MIXED_ROUTING" \
	--kafka.brokers "$BROKERS" --kafka.topic istio-proxy-access --kafka.group fallbackwatch-bench \
	2>"$WORK/collector-kafka.log" &
CK_PID=$!
PIDS+=("$CK_PID")
CK_ADDR=$(wait_listen "$WORK/collector-kafka.log" "$CK_PID")
"$BIN/benchtool" wait -url "http://$CK_ADDR/metrics" -series 'fallbackwatch_records_accepted_total{source="kafka"}' \
	-target "$KAFKA_N" -timeout 5m >"$WORK/kafka-wait.out" || { tail -20 "$WORK/collector-kafka.log" >&2; die "collector did not count every Kafka record"; }
log "Kafka: $(cat "$WORK/kafka-wait.out")"
stop_pid "$CK_PID"
stop_pid "$KAFKA_PID"
kv() { grep -o "$2=[^ ]*" "$1" | cut -d= -f2; }
K_STEADY=$(kv "$WORK/kafka-wait.out" steady_per_second)
K_E2E=$(kv "$WORK/kafka-wait.out" end_to_end_per_second)
K_FIRST=$(kv "$WORK/kafka-wait.out" first_seen_seconds)
K_CPU=$(kv "$WORK/kafka-wait.out" cpu_seconds)
K_PER_CPU=$(kv "$WORK/kafka-wait.out" per_cpu_second)

# ---- 6. tail latency ---------------------------------------------------------------------------
log "tail latency: appending $TAIL_RATE lines/s for $TAIL_SECONDS s to a followed file"
: >"$WORK/followed.log"
"$BIN/collector" run --web.listen-address 127.0.0.1:0 "$WORK/followed.log" 2>"$WORK/collector-tail.log" &
CT_PID=$!
PIDS+=("$CT_PID")
CT_ADDR=$(wait_listen "$WORK/collector-tail.log" "$CT_PID")
"$BIN/benchtool" tail -corpus "$WORK/small.log" -out "$WORK/followed.log" -url "http://$CT_ADDR/metrics" \
	-rate "$TAIL_RATE" -duration "${TAIL_SECONDS}s" >"$WORK/tail.out"
log "tail: $(cat "$WORK/tail.out")"
stop_pid "$CT_PID"
T_RATE=$(kv "$WORK/tail.out" lines_per_second)
T_P50=$(kv "$WORK/tail.out" p50_seconds); T_P99=$(kv "$WORK/tail.out" p99_seconds); T_MAX=$(kv "$WORK/tail.out" max_seconds)
T_MARKERS=$(kv "$WORK/tail.out" markers); T_SEEN=$(kv "$WORK/tail.out" seen); T_1S=$(kv "$WORK/tail.out" within_1s)

# ---- 7. tailing cost: the collector and mtail follow the same file in the same run -------------
# The latency probe above scrapes /metrics every 10 ms, which costs the collector CPU of its own;
# here the probe scrapes every 2 s. cpu_ticks PID: user+system CPU time in clock ticks;
# rss_kib PID FIELD: VmRSS or VmHWM of /proc/PID/status.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mtail_count() { curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^fallback_requests_by_result\{/ {s += $NF} END {printf "%.0f", s}'; }
log "tailing cost: appending $TAIL_RATE lines/s for $TAIL_COST_SECONDS s to a file followed by the collector and by mtail"
: >"$WORK/followed-cost.log"
"$BIN/collector" run --web.listen-address 127.0.0.1:0 "$WORK/followed-cost.log" 2>"$WORK/collector-cost.log" &
CC_PID=$!
PIDS+=("$CC_PID")
CC_ADDR=$(wait_listen "$WORK/collector-cost.log" "$CC_PID")
MT_PORT=$(free_port)
mtail --progs "$WORK/progs" --logs "$WORK/followed-cost.log" --address 127.0.0.1 --port "$MT_PORT" --logtostderr \
	2>"$WORK/mtail-tail.log" &
MT_PID=$!
PIDS+=("$MT_PID")
for i in $(seq 100); do curl -fsS "http://127.0.0.1:$MT_PORT/metrics" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$MT_PORT/metrics" >/dev/null || die "mtail not listening on 127.0.0.1:$MT_PORT: $(tail -5 "$WORK/mtail-tail.log")"
sleep 1
CC_CPU0=$(cpu_ticks "$CC_PID"); MT_CPU0=$(cpu_ticks "$MT_PID")
"$BIN/benchtool" tail -corpus "$WORK/small.log" -out "$WORK/followed-cost.log" -url "http://$CC_ADDR/metrics" \
	-rate "$TAIL_RATE" -duration "${TAIL_COST_SECONDS}s" -poll 2s -marker-interval 1s -settle 30s >"$WORK/tail-cost.out"
log "tailing cost: $(cat "$WORK/tail-cost.out")"
C_LINES=$(kv "$WORK/tail-cost.out" lines); C_RATE=$(kv "$WORK/tail-cost.out" lines_per_second)
# mtail may still be reading: wait (up to 120 s) until it has counted every line.
for i in $(seq 1200); do
	[[ $(mtail_count "$MT_PORT") -ge $C_LINES ]] && break
	sleep 0.1
done
MT_SEEN=$(mtail_count "$MT_PORT")
CC_SEEN=$(curl -fsS "http://$CC_ADDR/metrics" | awk '/^fallbackwatch_lines_read_total\{/ {s += $NF} END {printf "%.0f", s}')
TICK=$(getconf CLK_TCK)
CC_CPU=$(calc '%.2f' "($(cpu_ticks "$CC_PID") - $CC_CPU0) / $TICK"); MT_CPU=$(calc '%.2f' "($(cpu_ticks "$MT_PID") - $MT_CPU0) / $TICK")
CC_RSS=$(calc '%.1f' "$(rss_kib "$CC_PID" VmRSS) / 1024"); CC_HWM=$(calc '%.1f' "$(rss_kib "$CC_PID" VmHWM) / 1024")
MT_RSS=$(calc '%.1f' "$(rss_kib "$MT_PID" VmRSS) / 1024"); MT_HWM=$(calc '%.1f' "$(rss_kib "$MT_PID" VmHWM) / 1024")
log "tailing cost: collector $CC_CPU CPU s for $CC_SEEN lines, RSS $CC_RSS MiB (peak $CC_HWM); mtail $MT_CPU CPU s for $MT_SEEN lines, RSS $MT_RSS MiB (peak $MT_HWM)"
stop_pid "$CC_PID"
stop_pid "$MT_PID"
[[ $CC_SEEN == "$C_LINES" ]] || die "collector read $CC_SEEN of $C_LINES lines"
[[ $MT_SEEN == "$C_LINES" ]] || die "mtail counted $MT_SEEN of $C_LINES lines"
CC_PER_M=$(calc '%.2f' "$CC_CPU / $C_LINES * 1e6"); MT_PER_M=$(calc '%.2f' "$MT_CPU / $C_LINES * 1e6")
C_COST_RATIO=$(calc '%.1f' "$MT_CPU / $CC_CPU")

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
log "done; $(uptime)"

# ---- summary -----------------------------------------------------------------------------------
mark() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "**missed**" }'; }
cat <<EOF
### Benchmarks ($(date -u +%Y-%m-%d), \`bash scripts/bench.sh\`)

Machine: $NPROC × $CPU_MODEL, $GOVERSION, mtail $MTAIL_VERSION. Load average (1/5/15 min) $LOAD_START at start, $LOAD_END at the end.
Corpus: Mixed scenario of \`internal/corpus\`, $LINES lines, $SMALL_BYTES bytes ($AVG_LINE B/line); $BIG_LINES lines, $BIG_BYTES bytes. Second corpus (\`benchtool hostile\`): the same $LINES records, keys in random order, whitespace, escapes and nested unknown fields, $HOSTILE_BYTES bytes ($HOSTILE_AVG B/line).

| What | Figure | Target | |
|---|---|---|---|
| parse: fast path, 1 core | $P_MB MB/s, $P_AL allocs/op | ≥ 1500 MB/s, 0 allocs | $(mark "$P_MB" 1500 ">=") |
| parse: sonic Unmarshal, 1 core | $S_MB MB/s, $S_AL allocs/op | | |
| parse: fast path / sonic, 1 core | ${P_RATIO}× | ≥ 2× | $(mark "$P_RATIO" 2 ">=") |
| parse: fastest sonic variant ($SF_NAME), 1 core | $SF_MB MB/s; fast path / it ${SF_RATIO}× | | |
| parse: fast path, parallel | $PP_MB MB/s, $PP_AL allocs/op | | |
| parse: sonic Unmarshal, parallel | $SP_MB MB/s, $SP_AL allocs/op | | |
| parse: fast path / sonic, parallel | ${PP_RATIO}× | | |
| replay $LINES lines, routing checks on (Mixed routing) | $R_GBS GB/s ($R_WALL s wall, $R_CPU s CPU = $R_CPU_GBS GB per CPU-second) | ≥ 1 GB/s | $(mark "$R_GBS" 1 ">=") |
| replay verdicts, Mixed routing | $MIXED_VERDICTS; second corpus $HOSTILE_VERDICTS; both $W1_MIXED with \`--workers 1\` | | |
| replay $LINES lines, second corpus, routing checks on | $H_GBS GB/s, $H_LPS lines/s ($H_WALL s wall, $H_CPU s CPU = $H_CPU_PER_M CPU-s per million lines); first corpus $R_LPS lines/s, $R_CPU_PER_M CPU-s per million lines | | |
| replay $LINES lines, Bookinfo routing | $B_GBS GB/s ($B_WALL s); verdicts $BOOKINFO_VERDICTS | | |
| replay $LINES lines, no routing | $N_GBS GB/s ($N_WALL s) | | |
| replay peak RSS, $LINES lines | $R_RSS_MIB MiB | < 64 MiB | $(mark "$R_RSS_MIB" 64 "<=") |
| replay peak RSS, $BIG_LINES lines | $BIG_RSS_MIB MiB ($BIG_GBS GB/s) | < 64 MiB, not growing | $(mark "$BIG_RSS_MIB" 64 "<=") |
| replay peak RSS with --format text, $LINES / $BIG_LINES lines | $TS_RSS_MIB MiB / $TB_RSS_MIB MiB (the JSON report of $LINES lines lists $HEALTH_INTERVALS health intervals) | < 64 MiB, not growing | $(mark "$TB_RSS_MIB" 64 "<=") |
| mtail --one_shot, same file, same two counters | $M_GBS GB/s ($M_WALL s wall, $M_CPU s CPU, $(calc '%.1f' "$M_RSS / 1024") MiB) | | |
| replay / mtail | ${M_RATIO}× wall, ${M_CPU_RATIO}× CPU | ≥ 15× | $(mark "$M_CPU_RATIO" 15 ">=") (CPU) |
| mtail --one_shot, second corpus | $MH_WALL s wall, $MH_CPU s CPU; counted $MH_COUNTED of $LINES records (its regular expressions miss whitespace and escapes) | | |
| replay / mtail, second corpus | ${MH_RATIO}× wall, ${MH_CPU_RATIO}× CPU | | |
| collector run from Kafka (kfake, 3 partitions, $KAFKA_N × ~$AVG_LINE B) | $K_STEADY records/s steady; $K_E2E records/s including start and group join (first record after $K_FIRST s); collector CPU $K_CPU s = $K_PER_CPU records per CPU-second | ≥ 200000/s | $(mark "$K_STEADY" 200000 ">=") |
| tail latency at $T_RATE lines/s for $TAIL_SECONDS s | p50 $T_P50 s, p99 $T_P99 s, max $T_MAX s; $T_1S of $T_MARKERS markers within 1 s ($T_SEEN seen) | ≤ 1 s | $(mark "$T_MAX" 1 "<=") |
| collector tailing at $C_RATE lines/s for $TAIL_COST_SECONDS s ($C_LINES lines) | $CC_PER_M CPU-s per million lines ($CC_CPU s); RSS $CC_RSS MiB, peak $CC_HWM MiB | ≤ 1.0 CPU-s per million lines | $(mark "$CC_PER_M" 1 "<=") |
| mtail following the same file in the same run | $MT_PER_M CPU-s per million lines ($MT_CPU s); RSS $MT_RSS MiB, peak $MT_HWM MiB | | |
| tailing cost, mtail / collector | ${C_COST_RATIO}× CPU | ≥ 15× | $(mark "$C_COST_RATIO" 15 ">=") |
EOF
