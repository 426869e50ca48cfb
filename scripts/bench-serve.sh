#!/usr/bin/env bash
# scripts/bench-serve.sh measures pipecli serve: many callers sharing one
# server's replicas, next to the same callers each running a child of its
# own, with a fast child (scripts/pingpong/echo: what pipecli itself costs)
# and with the demo model (CPU-bound, tens of megabytes each); then the time
# a new caller waits for its first answer, from a warm server and from a
# model it starts itself (the demo model, and the Python model in its
# container when docker has the image pipe_api_py). It prints figures for
# people to read, never fails because of them (timings vary with the
# machine and its load), and fails only when an answer is wrong.
#
# Usage, from the repository root:
#
#	bash scripts/bench-serve.sh
#
# Environment:
#
#	BENCH_REPS=3            runs of each side, interleaved; medians are reported
#	BENCH_CLIENTS=8         callers at once
#	BENCH_EACH=5000         requests of each caller to the echo child
#	BENCH_MODEL_EACH=25     ciphertext lines of each caller to the demo model
#	BENCH_FIRST_REPS=5      runs of each time-to-first-answer side
#	BENCH_DOCKER=1          0 skips the Python container (scripts/build-python-image.sh builds it)
#
# Each side's figures: throughput (all requests / the wall time until the
# last caller is done), the latency percentiles of every request (from the
# callers' --json records: first sent to answered, queueing included), and
# the peak of the summed resident memory of every process of the side
# (server, replicas, callers and their children), sampled every 50 ms.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."

reps=${BENCH_REPS:-3}
clients=${BENCH_CLIENTS:-8}
each=${BENCH_EACH:-5000}
model_each=${BENCH_MODEL_EACH:-25}
first_reps=${BENCH_FIRST_REPS:-5}
docker=${BENCH_DOCKER:-1}

die() { echo "bench-serve.sh: $*" >&2; exit 1; }
for v in "$reps" "$clients" "$each" "$model_each" "$first_reps"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS, BENCH_CLIENTS, BENCH_EACH, BENCH_MODEL_EACH and BENCH_FIRST_REPS must be positive whole numbers, not \"$v\""
done
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash 5 or later for \$EPOCHREALTIME"
command -v jq >/dev/null || die "needs jq (apt-get install jq)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pipecli-bench.XXXXXX")
servers=()
stop_servers() {
	local p
	for p in "${servers[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${servers[@]}"; do wait "$p" 2>/dev/null || true; done
	servers=()
}
trap 'stop_servers; rm -rf "$tmp"' EXIT
# shellcheck source=scripts/benchlib.sh
. scripts/benchlib.sh

echo "building pipecli, scripts/pingpong/echo..."
go build -o "$tmp/pipecli" ./cmd/pipecli
go build -o "$tmp/echo" ./scripts/pingpong/echo
pipecli=$tmp/pipecli

echo "machine: $(nproc) cores, $(uname -sr), $(go version | awk '{ print $3 }')"
echo "load average at start: $(cut -d ' ' -f 1-3 /proc/loadavg)"

# serve NAME ARGS... starts a server on $tmp/NAME.sock and waits until it
# is ready.
serve() {
	local sock=$tmp/$1.sock
	shift
	"$pipecli" serve --socket "$sock" "$@" 2>"$tmp/serve.err" &
	servers+=($!)
	local i
	for ((i = 0; i < 600; i++)); do
		if "$pipecli" status --json "$sock" 2>/dev/null | jq -e .ready >/dev/null; then
			return
		fi
		sleep 0.05
	done
	die "the server on $sock did not get ready: $(tail -3 "$tmp/serve.err")"
}

# rss_peak FILE samples, until FILE exists, the summed RSS (KiB) of every
# process this script started (the servers, their replicas, the callers and
# their children), the sampler aside, and prints the peak.
rss_peak() {
	local peak=0 now self=$BASHPID
	while [[ ! -e $1 ]]; do
		now=$(ps -eo pid=,ppid=,rss= | awk -v root="$$" -v self="$self" '
			{ parent[$1] = $2; rss[$1] = $3 }
			END {
				for (p in parent) {
					q = p
					while (q != "" && q != root && q != self && q > 1) q = parent[q]
					if (q == root) s += rss[p]
				}
				print s + 0
			}')
		((now > peak)) && peak=$now
		sleep 0.05
	done
	echo "$peak"
}

# callers SIDE KIND runs $clients callers at once, each its own file of
# requests, and prints "WALL P50 P99 RSS_MIB". SIDE is server (through
# $tmp/KIND.sock, whose replicas count in RSS as they run from $tmp) or own
# (each caller starts its child).
callers() {
	local side=$1 kind=$2 n start pids=() child=() flags=()
	case $kind in
	echo) child=(--framing line -- "$tmp/echo") ;;
	model) child=(--framing line) ;; # the demo model
	esac
	rm -f "$tmp/done"
	rss_peak "$tmp/done" >"$tmp/rss" &
	local sampler=$!
	start=$EPOCHREALTIME
	for ((n = 0; n < clients; n++)); do
		if [[ $side == server ]]; then
			flags=(--connect "$tmp/$kind.sock")
		else
			flags=("${child[@]}")
		fi
		# --json: each record has the request's latency.
		"$pipecli" run --json --file "$tmp/$kind-$n.txt" --output "$tmp/$side-$kind-$n.json" "${flags[@]}" 2>"$tmp/$side-$n.err" &
		pids+=($!)
	done
	for n in "${!pids[@]}"; do
		wait "${pids[$n]}" || die "$side caller $n failed: $(tail -3 "$tmp/$side-$n.err")"
	done
	local wall
	wall=$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.4f", e - s }')
	touch "$tmp/done"
	wait "$sampler"
	for ((n = 0; n < clients; n++)); do
		check "$tmp/$side-$kind-$n.json" "$tmp/$kind-$n.want" || die "$side caller $n: wrong answers"
	done
	cat "$tmp/$side-$kind-"*.json | jq -r '.latency_ms' | sort -g >"$tmp/lat"
	local total p50 p99
	total=$(wc -l <"$tmp/lat")
	p50=$(awk -v n="$total" 'NR == int(n * 0.50) + 1 { print; exit }' "$tmp/lat")
	p99=$(awk -v n="$total" 'NR == int(n * 0.99) + 1 { print; exit }' "$tmp/lat")
	echo "$wall $p50 $p99 $(awk '{ printf "%.0f", $1 / 1024 }' "$tmp/rss")"
}

# check RECORDS WANT: every record answered, in order, with the wanted
# output.
check() {
	jq -r 'if .error == null then .output else "ERROR " + .error end' "$1" | cmp -s - "$2"
}

# report LABEL RESULTS... prints the medians of runs of callers.
report() {
	local label=$1 requests=$2
	shift 2
	local -a w=() p5=() p9=() r=()
	local x
	for x in "$@"; do
		read -r a b c d <<<"$x"
		w+=("$a") p5+=("$b") p9+=("$c") r+=("$d")
	done
	local wall
	wall=$(median "${w[@]}")
	printf '  %-36s %8.0f req/s   p50 %7.2f ms   p99 %7.2f ms   peak RSS %5s MiB   (wall, s: %s)\n' \
		"$label" "$(awk -v n="$requests" -v t="$wall" 'BEGIN { print n / t }')" \
		"$(median "${p5[@]}")" "$(median "${p9[@]}")" "$(median "${r[@]}")" "${w[*]}"
}

# section KIND REQUESTS_EACH SERVE_ARGS... measures both sides for KIND.
section() {
	local kind=$1 per=$2
	shift 2
	serve "$kind" "$@"
	local -a srv=() own=()
	callers server "$kind" >/dev/null # warm up, and check
	for ((i = 0; i < reps; i++)); do
		srv+=("$(callers server "$kind")")
		own+=("$(callers own "$kind")")
	done
	stop_servers
	report "$clients callers, one server -j 2" $((clients * per)) "${srv[@]}"
	report "$clients callers, a child each" $((clients * per)) "${own[@]}"
}

echo
echo "echo child (scripts/pingpong/echo): $clients callers x $each requests of 128 characters; $reps runs each, interleaved, medians"
for ((n = 0; n < clients; n++)); do
	gen_lines "$tmp/echo-$n.txt" "$each" 100
	sed "s/^/caller $n /" "$tmp/echo-$n.txt" >"$tmp/echo-$n.tmp" && mv "$tmp/echo-$n.tmp" "$tmp/echo-$n.txt"
	cp "$tmp/echo-$n.txt" "$tmp/echo-$n.want"
done
section echo "$each" -j 2 --framing line -- "$tmp/echo"

echo
echo "demo model: $clients callers x $model_each substitution ciphertext lines (a key per line), CPU-bound; $reps runs each, interleaved, medians"
book=$(go env GOROOT)/src/testdata/Isaac.Newton-Opticks.txt
grep -E '^.{50,}$' "$book" | sed -n "101,$((100 + clients * model_each))p" >"$tmp/plain.txt"
"$pipecli" encrypt --seed 1 <"$tmp/plain.txt" >"$tmp/crypt.txt"
for ((n = 0; n < clients; n++)); do
	sed -n "$((n * model_each + 1)),$(((n + 1) * model_each))p" "$tmp/crypt.txt" >"$tmp/model-$n.txt"
	# What the model answers (not always the plaintext: it is a model).
	"$pipecli" run --file "$tmp/model-$n.txt" --framing line >"$tmp/model-$n.want"
done
section model "$model_each" -j 2

# Time to a first answer for a new caller: one request, the whole command
# timed (process start, connection or model start, answer, exit).
echo
echo "time to first answer: one request, the whole command; $first_reps runs each, medians"
head -1 "$tmp/crypt.txt" >"$tmp/one.txt"
first() { # LABEL CMD...
	local label=$1 t=()
	shift
	"$@" >/dev/null 2>&1 || die "$label: $* failed"
	for ((i = 0; i < first_reps; i++)); do
		local s=$EPOCHREALTIME
		"$@" >/dev/null 2>&1 || die "$label: $* failed"
		t+=("$(awk -v s="$s" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.4f", e - s }')")
	done
	printf '  %-52s %8.1f ms   (all, s: %s)\n' "$label" "$(awk -v t="$(median "${t[@]}")" 'BEGIN { print t * 1000 }')" "${t[*]}"
}
serve first -j 2
first "demo model: pipecli run --connect (warm server)" "$pipecli" run --connect "$tmp/first.sock" --file "$tmp/one.txt"
first "demo model: pipecli run (starts the model)" "$pipecli" run --framing line --file "$tmp/one.txt"
stop_servers
if [[ $docker != 0 ]] && docker image inspect pipe_api_py >/dev/null 2>&1; then
	printf 'Dwwdfn dw gdzq, wkh hqhpb lv zhdn\n' >"$tmp/caesar.txt"
	serve py --image pipe_api_py -j 2
	first "Python model: pipecli run --connect (warm server)" "$pipecli" run --connect "$tmp/py.sock" --file "$tmp/caesar.txt"
	first "Python model: pipecli run --image pipe_api_py" "$pipecli" run --image pipe_api_py --framing line --file "$tmp/caesar.txt"
	stop_servers
else
	echo "  (the Python model's side is skipped: no docker image pipe_api_py; bash scripts/build-python-image.sh builds it)"
fi
