#!/usr/bin/env bash
# scripts/build-image.sh builds the docker image pipe_api (scripts/Dockerfile)
# from this source: a static pipecli (CGO_ENABLED=0) for the docker engine's
# architecture, in a temporary build context of its own, FROM scratch, so no
# registry is needed. Then
#
#	pipecli run --file testdata/crypt.txt -- docker run -i --rm pipe_api
#
# talks to the demo model in a container, as the original setup did.
#
# Usage, from anywhere:
#
#	bash scripts/build-image.sh
#
# Environment:
#
#	IMAGE=pipe_api   the tag to build
#	GO=go            the go command (the tests pass the one they run under)
#
# Rebuilding replaces the tag; the image it pointed to before is removed
# rather than left dangling.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

image=${IMAGE:-pipe_api}
go=${GO:-go}

die() { echo "build-image.sh: $*" >&2; exit 1; }

command -v docker >/dev/null ||
	die "docker not found in \$PATH; install Docker (https://docs.docker.com/engine/install/) to build $image"
# The engine, not just the client: a stopped daemon or a socket we may not
# use fails here, with docker's own reason.
if ! err=$(docker info 2>&1 >/dev/null); then
	die "the docker engine is not available, so $image cannot be built: ${err//$'\n'/ }"
fi
command -v "$go" >/dev/null || die "$go not found; install Go or set GO to the go command"

# The binary runs inside the engine's Linux, whatever the client runs on
# (Docker Desktop on a Mac, an arm64 host): build for the server's arch.
arch=$(docker version --format '{{.Server.Arch}}')
[[ -n $arch ]] || die "docker did not say the engine's architecture"

ctx=$(mktemp -d "${TMPDIR:-/tmp}/pipe_api-build.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

echo "building a static pipecli for linux/$arch..." >&2
CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$go" build -trimpath -ldflags='-s -w' -o "$ctx/pipecli" ./cmd/pipecli

old=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
echo "building image $image..." >&2
# --force-rm: no intermediate container is left behind even when a step
# fails (the legacy builder; BuildKit leaves none). -q prints only the ID.
docker build --force-rm -q -t "$image" -f scripts/Dockerfile "$ctx" >/dev/null
new=$(docker image inspect --format '{{.Id}}' "$image")

# The previous build lost its tag: remove it, or every rebuild would leave a
# dangling image; not if it has other tags. It stays if a container still
# uses it, and we say so.
if [[ -n $old && $old != "$new" && $(docker image inspect --format '{{len .RepoTags}}' "$old") == 0 ]]; then
	docker image rm "$old" >/dev/null 2>&1 ||
		echo "build-image.sh: the previous $image image ($old) is still in use; it is left, untagged" >&2
fi
echo "built $image ($new)" >&2
