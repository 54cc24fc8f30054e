#!/usr/bin/env bash
# Build the nestci runner image (docker/runner/Dockerfile) through the Docker
# Engine API, with no docker CLI: the build context is just the Dockerfile
# and the nestci binary, so it is a few megabytes however big target/ is.
#
#   scripts/runner-image.sh [--binary PATH] [--base IMAGE] [--tag TAG]
#
#   --binary  the nestci binary to put in the image (default target/release/nestci)
#   --base    a glibc image of the release the binary was built on
#             (default debian:bookworm-slim; the tests use nestci-test/debian:bookworm)
#   --tag     the image's name (default nestci/runner:latest)
#
# With the docker CLI the same build is:
#   docker build --build-arg BASE=IMAGE -t TAG -f docker/runner/Dockerfile CONTEXT
# where CONTEXT holds the binary as `nestci`.
#
# Environment: DOCKER_HOST (unix:///path, default unix:///var/run/docker.sock).
# Prints the image id on stdout; the build's output goes to stderr.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BINARY="$REPO_ROOT/target/release/nestci"
BASE=debian:bookworm-slim
TAG=nestci/runner:latest

die() {
    printf 'runner-image: %s\n' "$*" >&2
    exit 1
}

while (($#)); do
    case "$1" in
        --binary) BINARY="${2:?--binary needs a path}"; shift 2 ;;
        --base) BASE="${2:?--base needs an image}"; shift 2 ;;
        --tag) TAG="${2:?--tag needs a name}"; shift 2 ;;
        -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

[[ -x $BINARY ]] || die "no nestci binary at $BINARY: run 'cargo build --release' first, or pass --binary"

SOCK="${DOCKER_HOST:-unix:///var/run/docker.sock}"
[[ $SOCK == unix://* ]] || die "DOCKER_HOST=$SOCK: this script speaks to a unix socket only"
SOCK="${SOCK#unix://}"
[[ -S $SOCK ]] || die "no Docker Engine socket at $SOCK"

# Percent-encode one query value (RFC 3986 unreserved characters kept).
urlencode() {
    local s="$1" out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c="${s:i:1}"
        case "$c" in
            [a-zA-Z0-9.~_-]) out+="$c" ;;
            *) out+="$(printf '%%%02X' "'$c")" ;;
        esac
    done
    printf '%s' "$out"
}

CONTEXT="$(mktemp -d)"
trap 'rm -rf "$CONTEXT"' EXIT
cp "$REPO_ROOT/docker/runner/Dockerfile" "$CONTEXT/Dockerfile"
cp "$BINARY" "$CONTEXT/nestci"
tar -C "$CONTEXT" -cf "$CONTEXT.tar" Dockerfile nestci
trap 'rm -rf "$CONTEXT" "$CONTEXT.tar"' EXIT

query="t=$(urlencode "$TAG")&rm=1&forcerm=1"
query+="&buildargs=$(urlencode "{\"BASE\":\"$BASE\"}")"
# The classic builder: it needs no BuildKit session and builds from local
# images only, which is all an offline host has.
status="$(curl --silent --show-error --unix-socket "$SOCK" -X POST \
    -H 'Content-Type: application/x-tar' --data-binary "@$CONTEXT.tar" \
    -o "$CONTEXT/build.out" -w '%{http_code}' \
    "http://localhost/v1.41/build?$query")" || status=000
# Each line of the reply is a JSON message ending in CRLF, and a message's
# text carries JSON escapes (\n, \u003e, \").
printf '%b' "$(tr -d '\r' <"$CONTEXT/build.out" |
    sed -n 's/^{"stream":"\(.*\)"}$/\1/p' |
    sed 's/\\u003e/>/g; s/\\"/"/g' | tr -d '\n')" >&2 || true
if [[ $status != 200 ]] || grep -q '"error"' "$CONTEXT/build.out"; then
    die "building $TAG from $BASE failed (HTTP $status): $(grep -o '"error":"[^"]*"' "$CONTEXT/build.out" | head -n1)"
fi
id="$(grep -o '"ID":"sha256:[0-9a-f]*"' "$CONTEXT/build.out" | tail -n1 | cut -d'"' -f4)"
[[ -n $id ]] || id="$TAG"
printf '%s\n' "$id"
