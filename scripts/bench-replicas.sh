#!/usr/bin/env bash
# scripts/bench-replicas.sh measures pipecli's replicas (run -j N): the demo
# model, CPU-bound, with one and two replicas and next to GNU parallel's
# warm workers; ping-pong through an echo child at several windows with one
# and two replicas, next to a baseline pipecli built from another commit;
# and a reliability run through replicas that crash at random. It prints
# figures and ratios beside the targets and never fails because a target
# was missed: timings vary with the machine and its load, so they are for
# people to read, not to assert. It fails only when an output is wrong.
#
# Usage, from the repository root:
#
#	bash scripts/bench-replicas.sh
#
# Environment:
#
#	BENCH_REPS=3            runs of each side, interleaved; the median is reported
#	BENCH_MODEL=1           0 skips the demo model section
#	BENCH_MODEL_LINES=200   ciphertext lines for the demo model
#	BENCH_PINGPONG=1        0 skips the ping-pong section
#	BENCH_REQUESTS=200000   requests of 128 characters in each ping-pong run
#	BENCH_WINDOWS="1 8 64"  the ping-pong windows
#	BENCH_BASE=             a git ref (e.g. main~5): its pipecli is built too and
#	                        timed in the ping-pong rounds (with one child: it may
#	                        predate -j), with the ratio pipecli/base
#	BENCH_RELIABILITY=1     0 skips the crash run
#
# GNU parallel (Debian package "parallel") is used where installed, and its
# side skipped, saying so, where not.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."

reps=${BENCH_REPS:-3}
model=${BENCH_MODEL:-1}
model_lines=${BENCH_MODEL_LINES:-200}
pingpong=${BENCH_PINGPONG:-1}
requests=${BENCH_REQUESTS:-200000}
read -r -a windows <<<"${BENCH_WINDOWS:-1 8 64}"
base=${BENCH_BASE:-}
reliability=${BENCH_RELIABILITY:-1}

die() { echo "bench-replicas.sh: $*" >&2; exit 1; }
for v in "$reps" "$model_lines" "$requests" "${windows[@]}"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS, BENCH_MODEL_LINES, BENCH_REQUESTS and BENCH_WINDOWS must be positive whole numbers, not \"$v\""
done
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash 5 or later for \$EPOCHREALTIME"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pipecli-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=scripts/benchlib.sh
. scripts/benchlib.sh

echo "building pipecli, scripts/pingpong/echo, scripts/testchild..."
go build -o "$tmp/pipecli" ./cmd/pipecli
go build -o "$tmp/echo" ./scripts/pingpong/echo
go build -o "$tmp/testchild" ./scripts/testchild
if [[ -n $base ]]; then
	build_base "$base"
fi


# timed CMD... runs CMD with its stdout to $tmp/out and prints its wall time.
timed() {
	local start=$EPOCHREALTIME
	"$@" >"$tmp/out" 2>"$tmp/err" || die "$* failed: $(tail -3 "$tmp/err")"
	awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.4f\n", e - s }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "met" : "MISSED") }'; }

echo "machine: $(nproc) cores, $(uname -sr), $(go version | awk '{ print $3 }')"
echo "load average at start: $(cut -d ' ' -f 1-3 /proc/loadavg)"

# The demo model: English lines of the book every Go toolchain ships,
# each under its own random substitution key (reproducible: --seed).
if [[ $model != 0 ]]; then
echo
book=$(go env GOROOT)/src/testdata/Isaac.Newton-Opticks.txt
# (sed reads to the end: head would close the pipe on grep, failing it.)
grep -E '^.{50,}$' "$book" | sed -n "101,$((100 + model_lines))p" >"$tmp/plain.txt"
[[ $(wc -l <"$tmp/plain.txt") == "$model_lines" ]] || die "the book has fewer than $((100 + model_lines)) lines of 50 characters or more"
"$tmp/pipecli" encrypt --seed 1 <"$tmp/plain.txt" >"$tmp/crypt.txt"
echo "demo model: $model_lines substitution ciphertext lines (unknown key per line), CPU-bound; $reps runs each, interleaved, medians"
sides=("j1" "j2")
have_parallel=0
if command -v parallel >/dev/null; then
	have_parallel=1
	sides+=(parallel)
else
	echo "  (GNU parallel not installed: its side is skipped; apt-get install parallel)"
fi
model_run() {
	case $1 in
	j1) timed "$tmp/pipecli" run -j 1 --file "$tmp/crypt.txt" ;;
	j2) timed "$tmp/pipecli" run -j 2 --file "$tmp/crypt.txt" ;;
	# Two warm workers, each line sent to the next in turn; --keep-order
	# cannot go with --round-robin, so its output is in no set order.
	parallel) timed parallel --pipe --round-robin -j 2 -N 1 "$tmp/pipecli" model <"$tmp/crypt.txt" ;;
	esac
}
declare -A mt=()
model_run j1 >/dev/null
cp "$tmp/out" "$tmp/j1.out"
for ((i = 0; i < reps; i++)); do
	for side in "${sides[@]}"; do
		mt[$side]+="$(model_run "$side") "
		case $side in
		j2) cmp -s "$tmp/out" "$tmp/j1.out" || die "-j 2 output differs from -j 1" ;;
		parallel) sort "$tmp/out" | cmp -s - <(sort "$tmp/j1.out") || die "parallel's answers differ from pipecli's" ;;
		esac
	done
done
declare -A mr=()
for side in "${sides[@]}"; do
	# shellcheck disable=SC2086 # the runs, split
	t=$(median ${mt[$side]})
	mr[$side]=$(awk -v n="$model_lines" -v t="$t" 'BEGIN { printf "%.1f", n / t }')
	case $side in
	j1) label="pipecli run -j 1 --file F" ;;
	j2) label="pipecli run -j 2 --file F" ;;
	parallel) label="parallel --pipe --round-robin -j 2 -N 1" ;;
	esac
	printf '  %-46s %7s lines/s   median %.2f s   (all, s: %s)\n' "$label" "${mr[$side]}" "$t" "${mt[$side]% }"
done
r=$(ratio "${mr[j2]}" "${mr[j1]}")
printf '  %-46s %7s           target >= 1.80  %s; output byte-identical to -j 1\n' "ratio -j 2 / -j 1" "$r" "$(verdict "$r" 1.8)"
if ((have_parallel)); then
	r=$(ratio "${mr[j2]}" "${mr[parallel]}")
	printf '  %-46s %7s           target > 1      %s; parallel: same answers, not in input order\n' "ratio pipecli -j 2 / parallel" "$r" "$(verdict "$r" 1.0001)"
fi
fi

# Ping-pong: requests of 128 characters echoed back by scripts/pingpong/echo.
if [[ $pingpong != 0 ]]; then
	echo
	gen_lines "$tmp/pp.txt" "$requests" 117
	pp_sides=("pipecli 1" "pipecli 2")
	[[ -n $base ]] && pp_sides+=("base 1")
	pp_run() { # SIDE JOBS WINDOW
		local bin=$tmp/pipecli
		[[ $1 == base ]] && bin=$tmp/pipecli-base
		if [[ $2 == 1 ]]; then
			timed "$bin" run --framing line --window "$3" --file "$tmp/pp.txt" -- "$tmp/echo"
		else
			timed "$bin" run --framing line -j "$2" --window "$3" --file "$tmp/pp.txt" -- "$tmp/echo"
		fi
	}
	echo "ping-pong: $requests requests of 128 characters through scripts/pingpong/echo, --framing line; $reps runs each, interleaved, medians"
	declare -A pt=()
	for w in "${windows[@]}"; do
		for s in "${pp_sides[@]}"; do
			read -r side jobs <<<"$s"
			pp_run "$side" "$jobs" "$w" >/dev/null # warm up, and check
			cmp -s "$tmp/out" "$tmp/pp.txt" || die "$side -j $jobs --window $w: answers differ from the requests"
		done
	done
	for ((i = 0; i < reps; i++)); do
		for w in "${windows[@]}"; do
			for s in "${pp_sides[@]}"; do
				read -r side jobs <<<"$s"
				pt["$s $w"]+="$(pp_run "$side" "$jobs" "$w") "
			done
		done
	done
	for w in "${windows[@]}"; do
		echo "  window $w"
		declare -A rate=()
		for s in "${pp_sides[@]}"; do
			read -r side jobs <<<"$s"
			# shellcheck disable=SC2086
			t=$(median ${pt["$s $w"]})
			rate[$s]=$(awk -v n="$requests" -v t="$t" 'BEGIN { printf "%.0f", n / t }')
			label="pipecli -j $jobs --window $w"
			[[ $side == base ]] && label="pipecli at $base, --window $w"
			printf '    %-44s %9s req/s   (all, s: %s)\n' "$label" "${rate[$s]}" "${pt["$s $w"]% }"
		done
		if [[ -n $base ]]; then
			for jobs in 1 2; do
				r=$(ratio "${rate[pipecli $jobs]}" "${rate[base 1]}")
				printf '    %-44s %9s         target >= 0.95  %s\n' "ratio -j $jobs / base" "$r" "$(verdict "$r" 0.95)"
			done
		fi
	done
fi

# Reliability: four replicas that each die (SIGKILL) at random, about once
# in a hundred requests, over 20,000 requests; then one replica of four
# that always dies.
if [[ $reliability != 0 ]]; then
	echo
	echo "reliability: 20,000 requests through 4 replicas of testchild -crash-random 100"
	seq 1 20000 >"$tmp/seq.txt"
	t=$(timed "$tmp/pipecli" run -j 4 --file "$tmp/seq.txt" -- "$tmp/testchild" -crash-random 100)
	lost=$(comm -23 <(sort "$tmp/seq.txt") <(sort -u "$tmp/out") | wc -l)
	dup=$(($(wc -l <"$tmp/out") - $(sort -u "$tmp/out" | wc -l)))
	ordered=no
	cmp -s "$tmp/out" "$tmp/seq.txt" && ordered=yes
	deaths=$(grep -c 'was killed by signal 9' "$tmp/err" || true)
	said=$(grep -cE 'restarting replica [0-9] \([^)]*testchild\) \(|after answering every request|no requests are left for it' "$tmp/err" || true)
	printf '  %-46s %s s; lost %s, duplicated %s, in order: %s; deaths %s, each followed by its restart or why not: %s\n' \
		"pipecli run -j 4 -- testchild -crash-random 100" "$t" "$lost" "$dup" "$ordered" "$deaths" "$said"
	t=$(timed "$tmp/pipecli" run --max-restarts 2 --replica 'sh -c "exit 3"' --replica "$tmp/testchild -delay 1ms" -j 1 --replica "$tmp/testchild -delay 1ms" --replica "$tmp/testchild -delay 1ms" --file "$tmp/seq.txt")
	ok=no
	cmp -s "$tmp/out" "$tmp/seq.txt" && ok=yes
	retired=no
	grep -q 'replica 1 (sh) is retired' "$tmp/err" && retired=yes
	printf '  %-46s %s s; output complete and in order: %s; the broken one retired: %s\n' \
		"1 replica of 4 always dies (sh -c 'exit 3')" "$t" "$ok" "$retired"
fi
