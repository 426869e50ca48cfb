# scripts/benchlib.sh: what bench.sh and bench-replicas.sh share. Sourced,
# after they have set tmp (their scratch directory) and die.

# Every binary is built without cgo, as the README's install line and the
# container image build pipecli: a static binary. With a C compiler at hand
# Go would link pipecli with the C library (net, through cobra's pflag, and
# os/user, through mvdan.cc/sh, bring in cgo), which the measured sides do
# not share (scripts/pingpong's programs are static either way), and which
# cost 3-4% more CPU a request in ping-pong at window 1 pinned to one core,
# where every request is two task switches.
export CGO_ENABLED=0

# median prints the middle of its arguments (the lower middle for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# gen_lines FILE N WIDTH writes N lines, each different: a 10-digit line
# number, a space, then WIDTH characters of a rotating alphabet.
gen_lines() {
	awk -v n="$2" -v w="$3" 'BEGIN {
		a = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		b = a a a
		for (i = 1; i <= n; i++) printf "%010d %s\n", i, substr(b, i % 62 + 1, w)
	}' >"$1"
}

# build_base REF builds pipecli at the git ref REF as $tmp/pipecli-base,
# from a worktree removed on exit.
build_base() {
	echo "building pipecli at $1 (BENCH_BASE)..."
	git worktree add --detach -q "$tmp/base-src" "$1" || die "cannot check out BENCH_BASE=$1"
	trap 'git worktree remove --force "$tmp/base-src" 2>/dev/null; rm -rf "$tmp"' EXIT
	(cd "$tmp/base-src" && go build -o "$tmp/pipecli-base" ./cmd/pipecli)
}

# interleave REPS RUN WALL CPU SIDE... runs "RUN SIDE" for every side, REPS
# rounds with the sides interleaved so that the machine's drift falls on all
# of them alike; RUN prints "SECONDS CPU_SECONDS", appended to the
# associative arrays named WALL and CPU under the side's key.
interleave() {
	local reps=$1 run=$2 side i
	local -n _wall=$3 _cpu=$4
	local -a f
	shift 4
	for ((i = 0; i < reps; i++)); do
		for side in "$@"; do
			read -ra f <<<"$("$run" "$side")"
			_wall[$side]+="${f[0]} " _cpu[$side]+="${f[1]} "
		done
	done
}
