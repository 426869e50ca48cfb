#!/usr/bin/env bash
# scripts/bench-model.sh measures how fast the demo model (pipecli model)
# breaks a batch of substitution ciphertexts when it solves several lines
# at once (its default: one per CPU): `pipecli run --file F` streams every
# line into the model, next to `pipecli run --framing line --window 1 --file
# F`, which sends the next line only once the last is answered, so the model
# solves one at a time; next to the same model told to solve one at a time
# (--workers 1); and next to a baseline pipecli built from another commit
# (BENCH_BASE), streaming too. It prints the median times and the ratios and
# never fails because of a figure: timings vary with the machine and its
# load, so they are for people to read, not to assert. It fails only when an
# output is wrong.
#
# Usage, from the repository root:
#
#	BENCH_BASE=main~3 bash scripts/bench-model.sh
#
# Environment:
#
#	BENCH_REPS=5            runs of each side, interleaved; the median is reported
#	BENCH_LINES=200         ciphertext lines, 100-128 characters each
#	BENCH_TEXT=/usr/share/common-licenses/GPL-3
#	                        the English the lines are cut from
#	BENCH_BASE=             a git ref (e.g. the commit before the parallel
#	                        model): its pipecli is built and timed as a side
#
# Needs /usr/bin/time (Debian package "time") for the CPU time, awk, and
# bash 5 for $EPOCHREALTIME.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."

reps=${BENCH_REPS:-5}
lines=${BENCH_LINES:-200}
text=${BENCH_TEXT:-/usr/share/common-licenses/GPL-3}
base=${BENCH_BASE:-}

die() { echo "bench-model.sh: $*" >&2; exit 1; }
for v in "$reps" "$lines"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS and BENCH_LINES must be positive whole numbers, not \"$v\""
done
[[ -r $text ]] || die "cannot read BENCH_TEXT=$text; on Debian it comes with base-files, or point BENCH_TEXT at any English text"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found; install it with: apt-get update && apt-get install -y time"
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash 5 or later for \$EPOCHREALTIME"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pipecli-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=scripts/benchlib.sh
. scripts/benchlib.sh

echo "building pipecli..."
go build -o "$tmp/pipecli" ./cmd/pipecli
if [[ -n $base ]]; then
	build_base "$base"
fi

# The text's words, refilled into lines of at most 128 characters, those of
# 100 or more kept: English under a random substitution key per line
# (reproducible: --seed).
awk -v want="$lines" '
	function emit() { if (length(line) >= 100) { print line; if (++n == want) exit } line = "" }
	{ for (i = 1; i <= NF; i++) {
		if (line != "" && length(line) + 1 + length($i) > 128) emit()
		line = line == "" ? $i : line " " $i
	} }' "$text" >"$tmp/plain.txt"
[[ $(wc -l <"$tmp/plain.txt") == "$lines" ]] || die "$text gives fewer than $lines lines of 100-128 characters; lower BENCH_LINES"
"$tmp/pipecli" encrypt --seed 1 <"$tmp/plain.txt" >"$tmp/crypt.txt"

sides=(stream window1 workers1)
[[ -n $base ]] && sides+=(base)
declare -A label=(
	[stream]="pipecli run --file F"
	[window1]="pipecli run --framing line --window 1 --file F"
	[workers1]="pipecli run --file F -- pipecli model --workers 1"
	[base]="pipecli at $base, run --file F"
)

# run_once SIDE prints "SECONDS CPU_SECONDS" for one run of SIDE, its answers
# in $tmp/SIDE.out; the CPU time is user plus system of pipecli and its
# child, the model.
run_once() {
	local -a cmd
	case $1 in
	stream) cmd=("$tmp/pipecli" run --file "$tmp/crypt.txt") ;;
	window1) cmd=("$tmp/pipecli" run --framing line --window 1 --file "$tmp/crypt.txt") ;;
	workers1) cmd=("$tmp/pipecli" run --file "$tmp/crypt.txt" -- "$tmp/pipecli" model --workers 1) ;;
	base) cmd=("$tmp/pipecli-base" run --file "$tmp/crypt.txt") ;;
	esac
	local start=$EPOCHREALTIME
	/usr/bin/time -f '%U %S' -o "$tmp/time.txt" "${cmd[@]}" >"$tmp/$1.out" 2>"$tmp/err" ||
		die "${label[$1]} failed: $(tail -3 "$tmp/err")"
	local end=$EPOCHREALTIME
	awk -v s="$start" -v e="$end" 'END { printf "%.4f %.2f\n", e - s, $1 + $2 }' "$tmp/time.txt"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "machine: $(nproc) cores, $(uname -sr), $(go version | awk '{ print $3 }')"
echo "load average at start: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo
echo "demo model: $lines substitution ciphertext lines of 100-128 characters from $text; $reps runs each, interleaved, medians"

# Warm up, and check: the answers do not depend on how many lines are
# solved at once.
for side in "${sides[@]}"; do
	run_once "$side" >/dev/null
done
for side in window1 workers1; do
	cmp -s "$tmp/$side.out" "$tmp/stream.out" || die "${label[$side]}: answers differ from ${label[stream]}'s"
done
same_as_base=
if [[ -n $base ]]; then
	# Another commit may have another solver: its answers are only compared.
	same_as_base=no
	cmp -s "$tmp/base.out" "$tmp/stream.out" && same_as_base=yes
fi
right=$(paste -d '\n' "$tmp/stream.out" "$tmp/plain.txt" | awk 'NR % 2 { a = $0; next } a == $0 { n++ } END { print n + 0 }')

declare -A wall=() cpu=()
interleave "$reps" run_once wall cpu "${sides[@]}"
declare -A med=()
for side in "${sides[@]}"; do
	# shellcheck disable=SC2086 # word splitting wanted: the runs
	med[$side]=$(median ${wall[$side]})
	# shellcheck disable=SC2086
	printf '  %-52s %6.2f s  %6.1f lines/s   CPU %5.2f s   (all, s: %s)\n' "${label[$side]}" "${med[$side]}" \
		"$(awk -v n="$lines" -v t="${med[$side]}" 'BEGIN { print n / t }')" "$(median ${cpu[$side]})" "${wall[$side]% }"
done
printf '  %-52s %6s\n' "ratio window 1 / stream (time)" "$(ratio "${med[window1]}" "${med[stream]}")"
printf '  %-52s %6s\n' "ratio --workers 1 / stream (time)" "$(ratio "${med[workers1]}" "${med[stream]}")"
if [[ -n $base ]]; then
	printf '  %-52s %6s   same answers: %s\n' "ratio base / stream (time)" "$(ratio "${med[base]}" "${med[stream]}")" "$same_as_base"
fi
echo "  answers equal to the plaintext: $right of $lines; the same whatever the number of lines solved at once"

# Start-up: the time from starting `pipecli model` to its answer to a
# one-line input: a Caesar line, which takes the solver well under a
# millisecond, so that this is the start-up itself, and the first
# substitution line; the peak RSS of that run and of the whole batch; the
# binary's size.
first_answer() {
	local start=$EPOCHREALTIME
	/usr/bin/time -f '%M' -o "$tmp/rss.txt" "$1" model <"$2" >/dev/null
	awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", (e - s) * 1000 }'
}
head -1 "$tmp/crypt.txt" >"$tmp/one.txt"
head -1 "$tmp/plain.txt" | "$tmp/pipecli" encrypt --cipher caesar >"$tmp/caesar.txt"
bins=(pipecli)
[[ -n $base ]] && bins+=(pipecli-base)
echo
echo "start-up (to the answer of one Caesar line) and to the answer of the first substitution line, $reps runs, medians; peak RSS; binary size"
for b in "${bins[@]}"; do
	ms=() rss=() up=()
	for ((i = 0; i < reps; i++)); do
		up+=("$(first_answer "$tmp/$b" "$tmp/caesar.txt")")
		ms+=("$(first_answer "$tmp/$b" "$tmp/one.txt")")
		rss+=("$(cat "$tmp/rss.txt")")
	done
	/usr/bin/time -f '%M' -o "$tmp/rss.txt" "$tmp/$b" model <"$tmp/crypt.txt" >/dev/null
	printf '  %-14s start-up %6.1f ms, first answer %6.1f ms   peak RSS %5.1f MiB (one line), %5.1f MiB (%d lines)   binary %5.1f MiB\n' "$b" \
		"$(median "${up[@]}")" "$(median "${ms[@]}")" "$(awk -v k="$(median "${rss[@]}")" 'BEGIN { print k / 1024 }')" \
		"$(awk -v k="$(cat "$tmp/rss.txt")" 'BEGIN { print k / 1024 }')" "$lines" \
		"$(awk -v b="$(stat -c %s "$tmp/$b")" 'BEGIN { print b / 1048576 }')"
done
