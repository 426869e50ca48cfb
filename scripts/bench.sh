#!/usr/bin/env bash
# scripts/bench.sh measures how fast `pipecli run --file F -- cat` streams a
# file, next to the plain shell pipeline `cat F | cat`, and how much memory
# pipecli needs to do it; then how fast it streams inside a pipeline, `cat F |
# pipecli run -- cat | cat`, next to `cat F | cat | cat`; then how fast
# `pipecli run --framing line` plays
# ping-pong with a child answering one line at a time, next to a minimal Go
# program doing the same over the pipes (scripts/pingpong). It prints figures
# and ratios side by side with the targets and never fails because a target
# was missed: timings vary with the machine and its load, so they are for
# people to read, not to assert.
#
# Usage, from the repository root:
#
#	bash scripts/bench.sh
#
# Environment:
#
#	BENCH_STREAM=1        0 skips the streaming section (both inputs), for ping-pong alone
#	BENCH_LINES=1000000   lines of 128 bytes (127 characters and a newline) in the input
#	BENCH_REPS=5          runs of each side; the median is reported
#	BENCH_BIG=1           0 skips the second round with 10x the lines (~1.28 GB by default)
#	BENCH_SINK=null       where both sides' output goes: null (> /dev/null) or pipe (| cat > /dev/null)
#	BENCH_PIPELINE=1      0 skips the pipeline section
#	BENCH_CPUS=           a CPU list for taskset (e.g. 0 or 0,1): the pipeline
#	                      section runs every side on those CPUs only
#	BENCH_GO=1            0 skips `go test -bench` on internal/proc
#	BENCH_PINGPONG=1      0 skips the ping-pong section
#	BENCH_REQUESTS=100000 requests of 128 characters in each ping-pong run
#	BENCH_WINDOWS="1 8 64" the ping-pong windows (at windows 8 and 64 a run of
#	                      100,000 takes 50-250 ms, so start-up and scheduling
#	                      weigh; BENCH_REQUESTS=1000000 BENCH_WINDOWS="8 64"
#	                      measures the steady state)
#	BENCH_BASE=           a git ref (e.g. main~3): its pipecli is built too and
#	                      measured in the pipeline and ping-pong rounds as a
#	                      third side, interleaved, with the ratio pipecli/base
#
# Needs /usr/bin/time (Debian package "time") for peak RSS, awk, and bash 5
# for $EPOCHREALTIME.
set -euo pipefail
# Command substitutions ($(run_once ...)) stop at a failure too.
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."

stream=${BENCH_STREAM:-1}
lines=${BENCH_LINES:-1000000}
reps=${BENCH_REPS:-5}
big=${BENCH_BIG:-1}
sink=${BENCH_SINK:-null}
gobench=${BENCH_GO:-1}
pipeline=${BENCH_PIPELINE:-1}
cpus=${BENCH_CPUS:-}
pingpong=${BENCH_PINGPONG:-1}
requests=${BENCH_REQUESTS:-100000}
read -r -a windows <<< "${BENCH_WINDOWS:-1 8 64}"

die() { echo "bench.sh: $*" >&2; exit 1; }

[[ $lines =~ ^[1-9][0-9]*$ ]] || die "BENCH_LINES must be a positive whole number, not \"$lines\""
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive whole number, not \"$reps\""
[[ $requests =~ ^[1-9][0-9]*$ ]] || die "BENCH_REQUESTS must be a positive whole number, not \"$requests\""
for w in "${windows[@]}"; do
	[[ $w =~ ^[1-9][0-9]*$ ]] || die "BENCH_WINDOWS must be positive whole numbers, not \"$w\""
done
case $sink in
null | pipe) ;;
*) die "BENCH_SINK must be null or pipe, not \"$sink\"" ;;
esac
[[ -z $cpus ]] || command -v taskset >/dev/null || die "BENCH_CPUS needs taskset (Debian package util-linux)"
# GNU time, not the shell keyword: only it reports "Maximum resident set size".
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found; install it with: apt-get update && apt-get install -y time"
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash 5 or later for \$EPOCHREALTIME"
command -v awk >/dev/null || die "awk not found"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pipecli-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=scripts/benchlib.sh
. scripts/benchlib.sh

echo "building pipecli..."
go build -o "$tmp/pipecli" ./cmd/pipecli
base=${BENCH_BASE:-}
if [[ -n $base ]]; then
	build_base "$base"
fi

# gen FILE N writes N lines of 127 characters and a newline, each different:
# a 10-digit line number, a space, then 116 characters of a rotating alphabet.
gen() { gen_lines "$1" "$2" 116; }

# Both sides write their output to the same kind of sink, chosen once here.
# /dev/null: the last writer's write(2) costs nothing on either side. pipe: a
# third process (cat > /dev/null) reads it, as a real consumer would.
# The commands run as `sh -c CMD sh FILE PIPECLI`: $1 and $2 are expanded by
# that sh, hence the single quotes. pipecli is exec'd where it is alone, so no
# shell waits in between; the shell side needs sh to build its pipeline.
# shellcheck disable=SC2016
if [[ $sink == null ]]; then
	sink_desc="> /dev/null"
	shell_cmd='cat "$1" | cat > /dev/null'
	pipecli_cmd='exec "$2" run --file "$1" -- cat > /dev/null'
else
	sink_desc="| cat > /dev/null"
	shell_cmd='cat "$1" | cat | cat > /dev/null'
	pipecli_cmd='"$2" run --file "$1" -- cat | cat > /dev/null'
fi

# run_once SIDE FILE prints "SECONDS CPU_SECONDS RSS_KB" for one run of SIDE
# (shell or pipecli) on FILE. Both sides run the same way, as `sh -c` under
# /usr/bin/time -v, so that their fixed costs match. The wall time comes from
# $EPOCHREALTIME (microseconds): /usr/bin/time's "Elapsed" has only 10 ms
# steps, too coarse for a run of a few tens of milliseconds. The CPU time is
# user plus system of the whole process tree (cats included); it moves less
# than the wall time when other work shares the machine. The peak RSS is the
# largest of the process tree, which for pipecli is pipecli itself (cat is
# far smaller).
run_once() {
	local cmd=$shell_cmd
	[[ $1 == pipecli ]] && cmd=$pipecli_cmd
	local start=$EPOCHREALTIME
	/usr/bin/time -v -o "$tmp/time.txt" sh -c "set -e; $cmd" sh "$2" "$tmp/pipecli"
	local end=$EPOCHREALTIME
	awk -F': ' -v s="$start" -v e="$end" '
		/User time \(seconds\)/ { cpu += $2 }
		/System time \(seconds\)/ { cpu += $2 }
		/Maximum resident set size/ { rss = $2 }
		END { printf "%.4f %.2f %d\n", e - s, cpu, rss }' "$tmp/time.txt"
}


# bench FILE runs both sides REPS times, interleaved so that drift in
# the machine's load touches both alike, and sets: shell_mbs, pipecli_mbs,
# ratio, rss_mib (the largest peak RSS of pipecli over the runs).
bench() {
	local file=$1 bytes i
	bytes=$(stat -c %s "$file")
	# Warm the page cache and both code paths; this run is not counted.
	cat "$file" >/dev/null
	run_once shell "$file" >/dev/null
	run_once pipecli "$file" >/dev/null
	local -a st=() sc=() pt=() pc=() pr=() f
	for ((i = 0; i < reps; i++)); do
		read -ra f <<<"$(run_once shell "$file")"
		st+=("${f[0]}") sc+=("${f[1]}")
		read -ra f <<<"$(run_once pipecli "$file")"
		pt+=("${f[0]}") pc+=("${f[1]}") pr+=("${f[2]}")
	done
	local s p scpu pcpu rmax
	s=$(median "${st[@]}")
	p=$(median "${pt[@]}")
	scpu=$(median "${sc[@]}")
	pcpu=$(median "${pc[@]}")
	rmax=$(printf '%s\n' "${pr[@]}" | sort -n | tail -1)
	shell_mbs=$(awk -v b="$bytes" -v t="$s" 'BEGIN { printf "%.0f", b / t / 1e6 }')
	pipecli_mbs=$(awk -v b="$bytes" -v t="$p" 'BEGIN { printf "%.0f", b / t / 1e6 }')
	ratio=$(awk -v s="$s" -v p="$p" 'BEGIN { printf "%.2f", s / p }')
	rss_mib=$(awk -v k="$rmax" 'BEGIN { printf "%.1f", k / 1024 }')
	printf '  %-46s %8s MB/s   median %.3f s, CPU %.2f s   (all, s: %s)\n' \
		"cat F | cat $sink_desc" "$shell_mbs" "$s" "$scpu" "${st[*]}"
	printf '  %-46s %8s MB/s   median %.3f s, CPU %.2f s   (all, s: %s)\n' \
		"pipecli run --file F -- cat $sink_desc" "$pipecli_mbs" "$p" "$pcpu" "${pt[*]}"
	printf '  %-46s %8s          target >= 0.60  %s   (CPU shell/pipecli: %s)\n' "ratio pipecli/shell (MB/s)" "$ratio" \
		"$(awk -v r="$ratio" 'BEGIN { print (r >= 0.6 ? "met" : "MISSED") }')" \
		"$(awk -v s="$scpu" -v p="$pcpu" 'BEGIN { if (p > 0) printf "%.2f", s / p; else print "n/a" }')"
	printf '  %-46s %8s MiB      target <= 32    %s   (per run, KiB: %s)\n' "pipecli peak RSS (max of runs)" "$rss_mib" \
		"$(awk -v r="$rss_mib" 'BEGIN { print (r <= 32 ? "met" : "MISSED") }')" "${pr[*]}"
}

# check_output makes sure pipecli passes the input through intact, so that the
# figures are for a working pipe and not for an early exit.
check_output() {
	"$tmp/pipecli" run --file "$1" -- cat | cmp -s - "$1" || die "pipecli's output differs from its input"
}

echo "machine: $(nproc) cores, $(uname -sr), $(go version | awk '{ print $3 }'), $(cat --version | head -1)"
# Other work on the machine skews the figures: say how busy it was.
echo "load average at start: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "sink: both sides write $sink_desc (BENCH_SINK=$sink); $reps runs each, interleaved, medians reported"

if [[ $stream != 0 ]]; then
	echo
	echo "input 1: $lines lines of 128 bytes"
	gen "$tmp/in1.txt" "$lines"
	check_output "$tmp/in1.txt"
	bench "$tmp/in1.txt"
	small_rss=$rss_mib

	if [[ $big != 0 ]]; then
		big_lines=$((lines * 10))
		echo
		echo "input 2: $big_lines lines of 128 bytes (10x)"
		rm -f "$tmp/in1.txt"
		gen "$tmp/in2.txt" "$big_lines"
		bench "$tmp/in2.txt"
		rm -f "$tmp/in2.txt"
		growth=$(awk -v a="$small_rss" -v b="$rss_mib" 'BEGIN { printf "%.2f", b / a }')
		echo
		echo "peak RSS, 1x vs 10x input (flat: 10x/1x <= 1.25, both <= 32 MiB)"
		printf '  %-46s %8s MiB\n' "1x ($lines lines)" "$small_rss"
		printf '  %-46s %8s MiB\n' "10x ($big_lines lines)" "$rss_mib"
		printf '  %-46s %8s          %s\n' "ratio 10x/1x" "$growth" \
			"$(awk -v g="$growth" -v a="$small_rss" -v b="$rss_mib" 'BEGIN { print (g <= 1.25 && a <= 32 && b <= 32 ? "met" : "MISSED") }')"
	fi
fi

# Pipeline: pipecli in the middle of a shell pipeline, its stdin and stdout
# pipes, as a script uses it (`cat in | pipecli run -- ./model | ...`), next
# to the same pipeline with cat in its place. pipecli's child is a cat too, so
# the pipecli side has one process more: what it adds is the hop from its
# stdin into the child's and from the child's stdout into its own, which it
# leaves to the kernel (splice(2) between pipes). Each side is one
# `sh -c` timed from here, like the streaming section's.
if [[ $pipeline != 0 ]]; then
	echo
	echo "pipeline: $lines lines of 128 bytes"
	gen "$tmp/pl.txt" "$lines"
	"$tmp/pipecli" run -- cat <"$tmp/pl.txt" | cat | cmp -s - "$tmp/pl.txt" ||
		die "pipecli's output differs from its input inside a pipeline"
	pin=()
	[[ -n $cpus ]] && pin=(taskset -c "$cpus")
	# The commands, run as `sh -c CMD sh FILE PIPECLI BASE`.
	# shellcheck disable=SC2016
	declare -A pl_cmd=(
		[shell]='cat "$1" | cat | cat > /dev/null'
		[pipecli]='cat "$1" | "$2" run -- cat | cat > /dev/null'
		[base]='cat "$1" | "$3" run -- cat | cat > /dev/null'
	)
	declare -A pl_label=(
		[shell]="cat F | cat | cat > /dev/null"
		[pipecli]="cat F | pipecli run -- cat | cat > /dev/null"
		[base]="same, pipecli at $base"
	)
	pl_sides=(shell pipecli)
	[[ -n $base ]] && pl_sides+=(base)
	# pl_once SIDE prints "SECONDS CPU_SECONDS" for one run of SIDE, the CPU
	# time being that of the whole pipeline, as in run_once.
	pl_once() {
		local start=$EPOCHREALTIME
		"${pin[@]}" /usr/bin/time -v -o "$tmp/time.txt" sh -c "set -e; ${pl_cmd[$1]}" sh "$tmp/pl.txt" "$tmp/pipecli" "$tmp/pipecli-base"
		local end=$EPOCHREALTIME
		awk -F': ' -v s="$start" -v e="$end" '
			/User time \(seconds\)/ { cpu += $2 }
			/System time \(seconds\)/ { cpu += $2 }
			END { printf "%.4f %.2f\n", e - s, cpu }' "$tmp/time.txt"
	}
	for side in "${pl_sides[@]}"; do
		pl_once "$side" >/dev/null # warm up the page cache and each side
	done
	declare -A pl_t=() pl_c=() # SIDE -> the runs' seconds, CPU seconds
	interleave "$reps" pl_once pl_t pl_c "${pl_sides[@]}"
	bytes=$(stat -c %s "$tmp/pl.txt")
	[[ -n $cpus ]] && echo "  every side pinned to CPUs $cpus (BENCH_CPUS)"
	# Three processes or more on few cores: a run is fast or slow as the
	# kernel places them, so the fastest run is shown next to the median.
	declare -A pl_med=() pl_min=()
	for side in "${pl_sides[@]}"; do
		# shellcheck disable=SC2086 # word splitting wanted: the runs
		pl_med[$side]=$(median ${pl_t[$side]})
		# shellcheck disable=SC2086
		pl_min[$side]=$(printf '%s\n' ${pl_t[$side]} | sort -g | head -1)
		# shellcheck disable=SC2086
		printf '  %-46s %8s MB/s   median %.3f s, fastest %.3f s, CPU %.2f s   (all, s: %s)\n' "${pl_label[$side]}" \
			"$(awk -v b="$bytes" -v t="${pl_med[$side]}" 'BEGIN { printf "%.0f", b / t / 1e6 }')" \
			"${pl_med[$side]}" "${pl_min[$side]}" "$(median ${pl_c[$side]})" "${pl_t[$side]% }"
	done
	ratio=$(awk -v s="${pl_med[shell]}" -v p="${pl_med[pipecli]}" 'BEGIN { printf "%.2f", s / p }')
	printf '  %-46s %8s          target >= 0.90  %s   (fastest runs: %s)\n' "ratio pipecli/shell (MB/s)" "$ratio" \
		"$(awk -v r="$ratio" 'BEGIN { print (r >= 0.9 ? "met" : "MISSED") }')" \
		"$(awk -v s="${pl_min[shell]}" -v p="${pl_min[pipecli]}" 'BEGIN { printf "%.2f", s / p }')"
	if [[ -n $base ]]; then
		ratio=$(awk -v b="${pl_med[base]}" -v p="${pl_med[pipecli]}" 'BEGIN { printf "%.2f", b / p }')
		printf '  %-46s %8s\n' "ratio pipecli/base (MB/s)" "$ratio"
		ratio=$(awk -v s="${pl_med[shell]}" -v b="${pl_med[base]}" 'BEGIN { printf "%.2f", s / b }')
		printf '  %-46s %8s\n' "ratio base/shell (MB/s)" "$ratio"
	fi
	rm -f "$tmp/pl.txt"
fi

if [[ $gobench != 0 ]]; then
	echo
	echo "go test -bench (internal/proc, 64 MiB through cat; shell/devnull crosses one pipe, the others two):"
	go test -run '^$' -bench 'BenchmarkCat' -benchtime 2s -count 1 ./internal/proc/ | sed 's/^/  /'
fi

# Ping-pong: each request is one line of 128 characters, each answer the same
# line back from scripts/pingpong/echo, a Go child that flushes when it has
# no complete line left to read, like a model serving one line at a time.
# pipecli (`run --framing line --window W --stats`) is timed next to
# scripts/pingpong/direct, which starts the same child and keeps at most W
# requests in flight over the pipes with bufio and nothing else: what pipecli
# adds is the difference. Both read the requests from the same file, write
# the answers > /dev/null, are started the same way from this shell and timed
# from outside (requests/s = requests / wall time, start-up included), and
# report the median round trip of their own requests (p50 of --stats; the
# same percentile in direct): from handing a request to the child's stdin to
# having read its answer, write and read system calls and the child's
# turnaround included.
if [[ $pingpong != 0 ]]; then
	echo
	echo "building scripts/pingpong (echo, direct)..."
	go build -o "$tmp/echo" ./scripts/pingpong/echo
	go build -o "$tmp/direct" ./scripts/pingpong/direct
	# 10-digit number, a space, 117 characters: 128 characters and "\n".
	gen_lines "$tmp/pp.txt" "$requests" 117

	# pp_run SIDE W runs SIDE (direct or pipecli) once with window W; its
	# answers go to stdout, its statistics line to $tmp/pp.err.
	pp_run() {
		case $1 in
		direct) "$tmp/direct" -window "$2" -file "$tmp/pp.txt" -- "$tmp/echo" 2>"$tmp/pp.err" ;;
		base) "$tmp/pipecli-base" run --framing line --window "$2" --stats --file "$tmp/pp.txt" -- "$tmp/echo" 2>"$tmp/pp.err" ;;
		*) "$tmp/pipecli" run --framing line --window "$2" --stats --file "$tmp/pp.txt" -- "$tmp/echo" 2>"$tmp/pp.err" ;;
		esac
	}
	sides=(direct pipecli)
	[[ -n $base ]] && sides+=(base)
	# pp_once SIDE W prints "SECONDS P50_MICROSECONDS" for one run.
	pp_once() {
		local start end
		start=$EPOCHREALTIME
		pp_run "$1" "$2" >/dev/null || die "$1 failed with window $2: $(cat "$tmp/pp.err")"
		end=$EPOCHREALTIME
		# "p50 0.0128ms", "p50 12.8µs" (pipecli, old and new) or "p50 8.0us"
		# (direct).
		awk -v s="$start" -v e="$end" '
			match($0, /p50 [0-9.e+-]+(ms|us|µs|s)/) {
				v = substr($0, RSTART + 4, RLENGTH - 4)
				n = v + 0
				u = v; sub(/^[0-9.e+-]+/, "", u)
				p = n * (u == "ms" ? 1000 : u == "s" ? 1e6 : 1)
			}
			END { if (p == "") exit 1; printf "%.4f %.1f\n", e - s, p }' "$tmp/pp.err" ||
			die "no p50 in what $1 printed: $(cat "$tmp/pp.err")"
	}

	# Both sides answer every request, in order; this also warms them up.
	for side in "${sides[@]}"; do
		pp_run "$side" 64 | cmp -s - "$tmp/pp.txt" || die "$side's answers differ from the requests: $(cat "$tmp/pp.err")"
	done

	declare -A pp_t=() pp_l=() # "SIDE W" -> the runs' seconds, p50s
	for ((i = 0; i < reps; i++)); do
		for w in "${windows[@]}"; do
			for side in "${sides[@]}"; do
				read -ra f <<<"$(pp_once "$side" "$w")"
				pp_t["$side $w"]+="${f[0]} " pp_l["$side $w"]+="${f[1]} "
			done
		done
	done

	echo
	echo "ping-pong: $requests requests of 128 characters through scripts/pingpong/echo; $reps runs each, interleaved, medians reported"
	for w in "${windows[@]}"; do
		echo "  window $w"
		declare -A rate=() p50=()
		for side in "${sides[@]}"; do
			# shellcheck disable=SC2086 # word splitting wanted: the runs
			rate[$side]=$(awk -v n="$requests" -v t="$(median ${pp_t["$side $w"]})" 'BEGIN { printf "%.0f", n / t }')
			# shellcheck disable=SC2086
			p50[$side]=$(median ${pp_l["$side $w"]})
			label="scripts/pingpong/direct -window $w"
			[[ $side == pipecli ]] && label="pipecli run --framing line --window $w"
			[[ $side == base ]] && label="pipecli at $base, same flags"
			printf '    %-44s %8s req/s   p50 round trip %6.1f us   (all, s: %s; p50s, us: %s)\n' \
				"$label" "${rate[$side]}" "${p50[$side]}" "${pp_t["$side $w"]% }" "${pp_l["$side $w"]% }"
		done
		ratio=$(awk -v p="${rate[pipecli]}" -v d="${rate[direct]}" 'BEGIN { printf "%.2f", p / d }')
		if ((w == 1)); then
			printf '    %-44s %8s\n' "ratio pipecli/direct (req/s)" "$ratio"
			diff=$(awk -v p="${p50[pipecli]}" -v d="${p50[direct]}" 'BEGIN { printf "%.1f", p - d }')
			printf '    %-44s %8s us      target <= 10 us %s\n' "p50 round trip, pipecli - direct" "$diff" \
				"$(awk -v d="$diff" 'BEGIN { print (d <= 10 ? "met" : "MISSED") }')"
		else
			printf '    %-44s %8s          target >= 0.90  %s\n' "ratio pipecli/direct (req/s)" "$ratio" \
				"$(awk -v r="$ratio" 'BEGIN { print (r >= 0.9 ? "met" : "MISSED") }')"
		fi
		if [[ -n $base ]]; then
			ratio=$(awk -v p="${rate[pipecli]}" -v b="${rate[base]}" 'BEGIN { printf "%.2f", p / b }')
			printf '    %-44s %8s          target >= 0.95  %s\n' "ratio pipecli/base (req/s)" "$ratio" \
				"$(awk -v r="$ratio" 'BEGIN { print (r >= 0.95 ? "met" : "MISSED") }')"
		fi
	done
fi
