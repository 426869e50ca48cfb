#!/usr/bin/env bash
# scripts/bench-bench.sh measures what `pipecli bench` itself costs: the
# ping-pong of scripts/bench.sh (requests of 128 characters through
# scripts/pingpong/echo, a child that answers each line at once) played by
# scripts/pingpong/direct, the minimal client over the pipes, by `pipecli
# run --framing line`, and by `pipecli bench`, at windows 1, 8 and 64. The
# three sides are run in turn, REPS rounds, and the medians compared: a
# bench that costs little measures close to what direct does.
#
# Each run is timed from outside, start-up included (requests/s = requests
# / wall time), as bench.sh does, with the CPU time of the side and its
# child (user and system, per request), which other work on the machine
# disturbs less; and each side's own figures are shown
# beside: the requests/s and p50 each reports (direct's and run --stats'
# from the start of the child to the last answer; bench's, with --warmup 0,
# the same, from its --json report). Bench reads its requests into memory
# before it starts the child, which the wall time counts and its own
# figure does not. It prints figures and ratios, and never fails because
# of them: timings vary with the machine and its load. It fails when a
# side fails.
#
# Usage, from the repository root:
#
#	bash scripts/bench-bench.sh
#
# Environment:
#
#	BENCH_REPS=7            rounds; medians are reported
#	BENCH_REQUESTS=500000   requests in each run
#	BENCH_WINDOWS="1 8 64"  the windows
#	BENCH_CPUS=             a CPU list for taskset (e.g. 1): every side and
#	                        its child run on those CPUs only, where CPU time
#	                        is what counts, not how the kernel places them
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."

reps=${BENCH_REPS:-7}
requests=${BENCH_REQUESTS:-500000}
read -r -a windows <<<"${BENCH_WINDOWS:-1 8 64}"
cpus=${BENCH_CPUS:-}
pin=()
[[ -n $cpus ]] && pin=(taskset -c "$cpus")

die() { echo "bench-bench.sh: $*" >&2; exit 1; }

[[ $reps =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive whole number, not \"$reps\""
[[ $requests =~ ^[1-9][0-9]*$ ]] || die "BENCH_REQUESTS must be a positive whole number, not \"$requests\""
for w in "${windows[@]}"; do
	[[ $w =~ ^[1-9][0-9]*$ ]] || die "BENCH_WINDOWS must be positive whole numbers, not \"$w\""
done
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash 5 or later for \$EPOCHREALTIME"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found; install it with: apt-get update && apt-get install -y time"
[[ -z $cpus ]] || command -v taskset >/dev/null || die "BENCH_CPUS needs taskset (Debian package util-linux)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pipecli-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=scripts/benchlib.sh
. scripts/benchlib.sh

echo "building pipecli and scripts/pingpong (echo, direct)..."
go build -o "$tmp/pipecli" ./cmd/pipecli
go build -o "$tmp/echo" ./scripts/pingpong/echo
go build -o "$tmp/direct" ./scripts/pingpong/direct
gen_lines "$tmp/pp.txt" "$requests" 117

# once SIDE W runs SIDE at window W and prints "SECONDS P50_US RATE CPU",
# RATE being the requests/s the side reports itself (direct and run from
# the start of the child to the last answer, bench, with --warmup 0, the
# same) and CPU the CPU seconds of the side and its child together.
once() {
	local start end cpu
	local -a cmd
	case $1 in
	direct) cmd=("$tmp/direct" -window "$2" -file "$tmp/pp.txt" -- "$tmp/echo") ;;
	run) cmd=("$tmp/pipecli" run --framing line --window "$2" --stats --file "$tmp/pp.txt" -- "$tmp/echo") ;;
	bench) cmd=("$tmp/pipecli" bench --warmup 0 --window "$2" --json --file "$tmp/pp.txt" -- "$tmp/echo") ;;
	esac
	start=$EPOCHREALTIME
	if [[ $1 == bench ]]; then
		"${pin[@]}" /usr/bin/time -f "%U %S" -o "$tmp/cpu" "${cmd[@]}" >"$tmp/err" 2>&1
	else
		"${pin[@]}" /usr/bin/time -f "%U %S" -o "$tmp/cpu" "${cmd[@]}" >/dev/null 2>"$tmp/err"
	fi || die "$1 failed at window $2: $(cat "$tmp/err")"
	end=$EPOCHREALTIME
	cpu=$(awk '{ print $1 + $2 }' "$tmp/cpu")
	if [[ $1 == bench ]]; then
		# The first "p50" and "requests_per_s" of the report are the
		# point's; "answered" must be every request.
		awk -v s="$start" -v e="$end" -v n="$requests" -v c="$cpu" '
			{ v = $0; sub(/^[^:]*: */, "", v); sub(/,$/, "", v) }
			/"answered":/ && a == "" { a = v }
			/"requests_per_s":/ && r == "" { r = v }
			/"p50":/ && p == "" { p = v * 1000 }
			END { if (a != n) exit 1; printf "%.4f %.1f %.0f %s\n", e - s, p, r, c }' "$tmp/err" ||
			die "bench did not answer all $requests requests: $(cat "$tmp/err")"
		return
	fi
	# "... (81023.5/s); latency p50 8.53µs, ..." (run --stats) or "p50
	# 10.5us" (direct).
	awk -v s="$start" -v e="$end" -v c="$cpu" '
		match($0, /\([0-9.]+\/s\)/) { r = substr($0, RSTART + 1, RLENGTH - 4) }
		match($0, /p50 [0-9.e+-]+(ms|us|µs|s)/) {
			v = substr($0, RSTART + 4, RLENGTH - 4)
			n = v + 0
			u = v; sub(/^[0-9.e+-]+/, "", u)
			p = n * (u == "ms" ? 1000 : u == "s" ? 1e6 : 1)
		}
		END { if (p == "" || r == "") exit 1; printf "%.4f %.1f %.0f %s\n", e - s, p, r, c }' "$tmp/err" ||
		die "no p50 in what $1 printed: $(cat "$tmp/err")"
}

# least is the smallest of its arguments: what a side costs when nothing
# else on the machine took from it (other work only ever adds CPU time, as
# a virtual machine counts the time its host takes from it).
least() { printf '%s\n' "$@" | sort -g | head -n 1; }

echo "machine: $(nproc) cores, $(uname -sr), $(go version | awk '{ print $3 }')"
echo "load average at start: $(cut -d ' ' -f 1-3 /proc/loadavg)"
sides=(direct run bench)
for side in "${sides[@]}"; do
	once "$side" 64 >/dev/null # warm the page cache and each side
done

declare -A wall=() p50=() own=() cpu=() # "SIDE W" -> the runs' figures
for ((i = 0; i < reps; i++)); do
	for w in "${windows[@]}"; do
		for side in "${sides[@]}"; do
			read -ra f <<<"$(once "$side" "$w")"
			wall["$side $w"]+="${f[0]} " p50["$side $w"]+="${f[1]} " own["$side $w"]+="${f[2]} " cpu["$side $w"]+="${f[3]} "
		done
	done
done

echo
echo "ping-pong: $requests requests of 128 characters through scripts/pingpong/echo; $reps rounds, sides in turn, medians"
[[ -n $cpus ]] && echo "every side and its child pinned to CPUs $cpus (BENCH_CPUS)"
for w in "${windows[@]}"; do
	echo "  window $w"
	declare -A rate=() ownrate=() cpuus=() leastus=()
	for side in "${sides[@]}"; do
		# shellcheck disable=SC2086 # word splitting wanted: the runs
		rate[$side]=$(awk -v n="$requests" -v t="$(median ${wall["$side $w"]})" 'BEGIN { printf "%.0f", n / t }')
		# shellcheck disable=SC2086 # word splitting wanted: the runs
		ownrate[$side]=$(median ${own["$side $w"]})
		# shellcheck disable=SC2086
		cpuus[$side]=$(awk -v n="$requests" -v c="$(median ${cpu["$side $w"]})" 'BEGIN { printf "%.2f", c * 1e6 / n }')
		# shellcheck disable=SC2086
		leastus[$side]=$(awk -v n="$requests" -v c="$(least ${cpu["$side $w"]})" 'BEGIN { printf "%.3f", c * 1e6 / n }')
		# shellcheck disable=SC2086
		printf '    %-8s %9s req/s, its own figure %9s req/s, p50 %6.1f us, CPU %5s us/request, least %6s   (all, s: %s)\n' "$side" "${rate[$side]}" \
			"${ownrate[$side]}" "$(median ${p50["$side $w"]})" "${cpuus[$side]}" "${leastus[$side]}" "${wall["$side $w"]% }"
	done
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
	for base in direct run; do
		printf '    bench/%-6s req/s %s, own figures %s, CPU per request %s, least CPU %s\n' "$base" \
			"$(ratio "${rate[bench]}" "${rate[$base]}")" "$(ratio "${ownrate[bench]}" "${ownrate[$base]}")" \
			"$(ratio "${cpuus[bench]}" "${cpuus[$base]}")" "$(ratio "${leastus[bench]}" "${leastus[$base]}")"
	done
done
