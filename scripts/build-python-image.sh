#!/usr/bin/env bash
# scripts/build-python-image.sh builds the docker image pipe_api_py
# (scripts/python.Dockerfile): the example model scripts/model.py on Debian
# bookworm's python3, with no registry. The base, pipe_api_py-base:bookworm,
# is a debootstrap'd root filesystem brought in with `docker import`; it is
# made once and kept, so later builds only copy model.py onto it. Then
#
#	pipecli run --image pipe_api_py
#	printf 'Dwwdfn dw gdzq\n' | docker run -i --rm -e PYTHONUNBUFFERED=1 pipe_api_py
#
# talk to the model in a container.
#
# Usage, from anywhere:
#
#	bash scripts/build-python-image.sh
#
# Environment:
#
#	IMAGE=pipe_api_py         the tag to build
#	MIRROR=http://...debian   the Debian archive for debootstrap; by default
#	                          the one apt on this machine uses for bookworm,
#	                          else http://deb.debian.org/debian
#
# Making the base needs root and debootstrap (apt-get install debootstrap).
# The image is labelled with a hash of model.py, python.Dockerfile and this
# script: when the tag already has that label, nothing is done. Rebuilding
# replaces the tag; the image it pointed to before is removed rather than
# left dangling. To make the base again: docker image rm pipe_api_py-base:bookworm
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

image=${IMAGE:-pipe_api_py}
base=pipe_api_py-base:bookworm # python.Dockerfile starts FROM it
suite=bookworm
label=pipecli.source-sha256

die() { echo "build-python-image.sh: $*" >&2; exit 1; }

command -v docker >/dev/null ||
	die "docker not found in \$PATH; install Docker (https://docs.docker.com/engine/install/) to build $image"
# The engine, not just the client: a stopped daemon or a socket we may not
# use fails here, with docker's own reason.
if ! err=$(docker info 2>&1 >/dev/null); then
	die "the docker engine is not available, so $image cannot be built: ${err//$'\n'/ }"
fi

sum=$(cat scripts/model.py scripts/python.Dockerfile scripts/build-python-image.sh | sha256sum)
sum=${sum%% *}
old=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
if [[ -n $old && $(docker image inspect --format "{{index .Config.Labels \"$label\"}}" "$image") == "$sum" ]]; then
	echo "$image is up to date ($old)" >&2
	exit 0
fi

# apt_mirror prints the archive that apt on this machine uses for $suite,
# from deb822 .sources files or one-line .list files, so that debootstrap
# goes where apt already can (a local mirror, a proxy, a snapshot).
apt_mirror() {
	shopt -s nullglob
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		awk -v suite="$suite" '
			BEGIN { RS = ""; FS = "\n" } # one stanza per record
			{
				uri = ""; deb = 0; ok = 0
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
					if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uri = u[2] }
					if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
				}
				if (deb && ok && uri != "") { print uri; exit }
			}' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		# deb [options] URI SUITE COMPONENTS...
		awk -v suite="$suite" '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == suite) { print $i; exit }
		}' "$f"
	done
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pipe_api_py-build.XXXXXX")
# debootstrap mounts /proc and /sys inside the root filesystem while it
# works: if it is stopped midway, unmount them before removing anything, and
# never let rm cross into another file system.
cleanup() {
	awk -v dir="$tmp/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l || true
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

if docker image inspect "$base" >/dev/null 2>&1; then
	echo "using base image $base" >&2
else
	PATH=$PATH:/usr/sbin:/sbin # where debootstrap lives, outside root's $PATH
	command -v debootstrap >/dev/null ||
		die "debootstrap not found, so the base image $base cannot be made; install it with: apt-get update && apt-get install -y debootstrap"
	[[ $(id -u) == 0 ]] ||
		die "debootstrap needs root to make the base image $base; run this script as root"
	mirror=${MIRROR:-$(apt_mirror | head -n 1)}
	mirror=${mirror:-http://deb.debian.org/debian}

	# minbase: essential packages and apt only. python3, not python3-minimal:
	# the latter lacks json, which model.py --jsonl needs.
	echo "making base image $base: debootstrap $suite from $mirror..." >&2
	root=$tmp/rootfs
	if ! debootstrap --variant=minbase --include=python3 "$suite" "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
		tail -n 5 "$tmp/debootstrap.log" >&2
		hint=""
		if grep -q -e "Failed getting release file" -e "Couldn't download" "$tmp/debootstrap.log"; then
			hint="; set MIRROR to a Debian archive you can reach"
		fi
		die "debootstrap $suite from $mirror failed (its last lines above)$hint"
	fi
	# What a container that runs one Python script never reads: apt's
	# package lists and caches, documentation (but its copyright files),
	# translations, logs, and the build machine's name and resolver, which
	# docker provides anyway.
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
		"$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
		"$root"/var/log/* "$root"/etc/hostname "$root"/etc/resolv.conf
	find "$root/usr/share/doc" -type f ! -name copyright -delete
	find "$root/usr/share/doc" -depth -type d -empty -delete
	tar --numeric-owner -C "$root" -cf - . |
		docker import --message "debootstrap --variant=minbase --include=python3 $suite $mirror" - "$base" >/dev/null
fi

cp scripts/model.py scripts/python.Dockerfile "$tmp"/
echo "building image $image..." >&2
# --force-rm: no intermediate container is left behind even when a step
# fails (the legacy builder; BuildKit leaves none). -q prints only the ID.
new=$(docker build --force-rm -q --label "$label=$sum" -f "$tmp/python.Dockerfile" "$tmp")

# One request through the image before it is tagged, so that a base without
# a module model.py imports fails here, not in the first real run, and
# leaves no image that the label would call up to date.
want='{"id": 1, "text": "Attack at dawn", "shift": 3}'
if ! got=$(printf '{"id": 1, "text": "Dwwdfn dw gdzq"}\n' | docker run -i --rm "$new" --jsonl 2>&1) || [[ $got != "$want" ]]; then
	docker image rm "$new" >/dev/null 2>&1 || true
	die "the image built does not answer as model.py should: got ${got//$'\n'/ }, want $want"
fi
docker tag "$new" "$image"

# The previous build lost its tag: remove it, or every rebuild would leave a
# dangling image; not if it has other tags. It stays if a container still
# uses it, and we say so.
if [[ -n $old && $old != "$new" && $(docker image inspect --format '{{len .RepoTags}}' "$old") == 0 ]]; then
	docker image rm "$old" >/dev/null 2>&1 ||
		echo "build-python-image.sh: the previous $image image ($old) is still in use; it is left, untagged" >&2
fi
echo "built $image ($new) in ${SECONDS}s" >&2
