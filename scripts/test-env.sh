#!/usr/bin/env bash
# Prepare what nestci's test suite needs on a fresh Debian 12 host (root,
# no container registry reachable, a Docker Engine with no images):
#
#   1. Debian packages: busybox-static (and curl when it is missing).
#   2. A busybox rootfs tarball at target/fixtures/busybox-rootfs.tar, built
#      from /bin/busybox and the recipe in docker/busybox/.
#   3. That rootfs imported into the Docker daemon as nestci-test/busybox:latest
#      (ENV PATH=/bin, CMD ["sh"]), through the Engine API, no docker CLI.
#   4. For the dind runtime's tests: user namespaces and the memory/pids
#      cgroup controllers present (checked), mount/util-linux/hostname.
#   5. That image exported from the daemon as a `docker save` archive at
#      target/fixtures/busybox-docker-save.tar (GET /images/{name}/get), for
#      the dind runtime's archive import.
#   6. Podman (Debian's podman, /etc/containers/containers.conf for this
#      host) serving the Docker-compatible API at /run/podman/podman.sock,
#      with the same busybox image loaded into it.
#   7. Debian's docker-registry on 127.0.0.1:5000 (storage under
#      /var/lib/nestci-test/registry) holding that image, for pull tests.
#   8. A minimal Debian 12 image, nestci-test/debian:bookworm, made with
#      mmdebstrap from Debian's mirror and imported like the busybox one: the
#      base of the runner image (docker/runner/Dockerfile) in the nested
#      dind test, and a userland with bash and glibc for pipelines.
#   8. An unprivileged user `nestci-test` with a subordinate id range
#      (300000:65536 in /etc/subuid and /etc/subgid) and Debian's uidmap
#      (newuidmap/newgidmap): the dind runtime as a user, tests/dind_rootless.rs.
#
# Idempotent and quiet: it prints one line per thing it actually does and
# nothing when everything is already in place (TEST_ENV_VERBOSE=1 says more).
# A missing Docker daemon is an error, never a skip.
#
# Environment:
#   DOCKER_HOST          unix:///path/to.sock (default unix:///var/run/docker.sock)
#                        or tcp://host:port
#   DOCKER_API_VERSION   Engine API version to speak (default 1.41)
#   TEST_ENV_VERBOSE=1   also report what was already up to date
#
# To extend (a local registry, podman, ...): add an ensure_* function below and
# call it from main.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIXTURES_DIR="$REPO_ROOT/target/fixtures"
RECIPE_DIR="$REPO_ROOT/docker/busybox"

BUSYBOX_BIN=/bin/busybox
BUSYBOX_TAR="$FIXTURES_DIR/busybox-rootfs.tar"
BUSYBOX_STAMP="$FIXTURES_DIR/busybox-rootfs.stamp"
# Bump when the rootfs layout built below changes, to force a rebuild.
BUSYBOX_RECIPE_VERSION=1

BUSYBOX_IMAGE_REPO=nestci-test/busybox
BUSYBOX_IMAGE_TAG=latest
BUSYBOX_IMAGE="$BUSYBOX_IMAGE_REPO:$BUSYBOX_IMAGE_TAG"
# The image carries the sha256 of the tarball it was imported from.
ROOTFS_LABEL=org.nestci.fixture.rootfs-sha256

DOCKER_API_VERSION="${DOCKER_API_VERSION:-1.41}"
DOCKER_API_VERSION="v${DOCKER_API_VERSION#v}"

VERBOSE="${TEST_ENV_VERBOSE:-0}"
APT_UPDATED=0
SUDO=()
WORK_DIR=""

# --- output ------------------------------------------------------------------

log() { printf 'test-env: %s\n' "$*"; }
debug() { if [[ $VERBOSE == 1 ]]; then log "$*"; fi; }
die() {
    printf 'test-env: error: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    if [[ -n $WORK_DIR && -d $WORK_DIR ]]; then rm -rf -- "$WORK_DIR"; fi
}

# A scratch directory inside target/fixtures (same filesystem, so finished
# files can be moved into place atomically), removed on exit.
make_work_dir() {
    WORK_DIR="$(mktemp -d "$FIXTURES_DIR/.work.XXXXXX")"
}

# Serialise concurrent runs (parallel CI jobs, a test calling the script).
take_lock() {
    mkdir -p "$FIXTURES_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$FIXTURES_DIR/.test-env.lock"
        flock 9
    fi
}

# --- Debian packages -----------------------------------------------------------

package_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# Run an apt-get command, quiet unless it fails.
apt_run() {
    local log_file
    log_file="$WORK_DIR/apt.log"
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >"$log_file" 2>&1 </dev/null; then
        cat "$log_file" >&2
        die "apt-get $* failed"
    fi
}

# apt_install PKG...: install the packages that are missing; `apt-get update`
# only when something has to be installed.
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        package_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        debug "packages present: $*"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages (${missing[*]}) and no apt-get to install them; this script expects Debian 12"
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "missing packages (${missing[*]}); run as root to install them"
        SUDO=(sudo -n)
    fi
    if ((APT_UPDATED == 0)); then
        log "apt-get update"
        apt_run update
        APT_UPDATED=1
    fi
    log "apt-get install ${missing[*]}"
    apt_run install -y --no-install-recommends "${missing[@]}"
}

ensure_host_packages() {
    local pkgs=(busybox-static)
    command -v curl >/dev/null 2>&1 || pkgs+=(curl)
    apt_install "${pkgs[@]}"
    [[ -x $BUSYBOX_BIN ]] || die "$BUSYBOX_BIN missing although busybox-static is installed"
    command -v curl >/dev/null 2>&1 || die "curl missing although it was installed"
}

# --- Docker Engine API (curl, no docker CLI) -------------------------------------

DOCKER_CURL=()
DOCKER_URL=""
DOCKER_DESC=""
API_STATUS=""
API_BODY=""

docker_endpoint() {
    local host="${DOCKER_HOST:-unix:///var/run/docker.sock}"
    case "$host" in
        unix://*)
            local sock="${host#unix://}"
            DOCKER_CURL=(--unix-socket "$sock")
            DOCKER_URL="http://localhost"
            DOCKER_DESC="$sock"
            [[ -S $sock ]] || die "no Docker daemon: socket $sock does not exist. Start the daemon (e.g. 'systemctl start docker' or 'dockerd &') or point DOCKER_HOST at one; the tests need it."
            ;;
        tcp://*)
            DOCKER_CURL=()
            DOCKER_URL="http://${host#tcp://}"
            DOCKER_DESC="$host"
            ;;
        *) die "unsupported DOCKER_HOST '$host' (expected unix://PATH or tcp://HOST:PORT)" ;;
    esac
    API_BODY="$WORK_DIR/api-body"
}

# docker_api METHOD PATH [CURL_ARGS...]: one Engine API request. Sets
# API_STATUS (000 when the daemon could not be reached); the body is in $API_BODY.
docker_api() {
    local method="$1" path="$2"
    shift 2
    API_STATUS="$(curl --silent --show-error "${DOCKER_CURL[@]}" -X "$method" \
        -o "$API_BODY" -w '%{http_code}' "$@" \
        "$DOCKER_URL/$DOCKER_API_VERSION$path" 2>"$API_BODY.err")" || API_STATUS=000
}

api_error() {
    local detail
    detail="$(cat "$API_BODY.err" "$API_BODY" 2>/dev/null | tr -s '\n' ' ' | cut -c1-400)"
    printf 'HTTP %s: %s' "$API_STATUS" "$detail"
}

ensure_docker_daemon() {
    docker_endpoint
    docker_api GET /_ping
    if [[ $API_STATUS != 200 ]]; then
        die "no Docker daemon answering at $DOCKER_DESC ($(api_error)). Start it or fix DOCKER_HOST; the tests need it."
    fi
    debug "Docker daemon answers at $DOCKER_DESC"
}

# --- busybox rootfs tarball ----------------------------------------------------

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

busybox_rootfs_stamp() {
    local recipe
    recipe="$({
        printf 'recipe-version %s\n' "$BUSYBOX_RECIPE_VERSION"
        cat "$RECIPE_DIR/passwd" "$RECIPE_DIR/group"
    } | sha256sum | cut -d' ' -f1)"
    printf 'busybox-sha256 %s\nrecipe-sha256 %s\n' "$(sha256_of "$BUSYBOX_BIN")" "$recipe"
}

# Lay out the rootfs in DIR: bin/ (busybox plus one symlink per applet),
# etc/passwd and etc/group from docker/busybox/, and the empty mount points.
layout_busybox_rootfs() {
    local root="$1" applet count=0
    mkdir -p "$root"
    chmod 0755 "$root"
    (cd "$root" && mkdir -m 0755 bin etc workspace proc sys dev && mkdir -m 0700 root && mkdir -m 1777 tmp)
    chmod 1777 "$root/tmp"
    install -m 0755 "$BUSYBOX_BIN" "$root/bin/busybox"
    # `busybox --list` names busybox itself: keep the binary, link the rest.
    while IFS= read -r applet; do
        [[ -z $applet || $applet == busybox || $applet == */* ]] && continue
        ln -s busybox "$root/bin/$applet"
        count=$((count + 1))
    done < <("$root/bin/busybox" --list)
    ((count > 0)) || die "$BUSYBOX_BIN --list named no applets"
    install -m 0644 "$RECIPE_DIR/passwd" "$root/etc/passwd"
    install -m 0644 "$RECIPE_DIR/group" "$root/etc/group"
    printf '%s\n' "$count"
}

ensure_busybox_rootfs() {
    local stamp
    stamp="$(busybox_rootfs_stamp)"
    if [[ -f $BUSYBOX_TAR && -f $BUSYBOX_STAMP && "$(cat "$BUSYBOX_STAMP")" == "$stamp" ]]; then
        debug "rootfs up to date: $BUSYBOX_TAR"
        return 0
    fi
    local work="$WORK_DIR" root="$WORK_DIR/rootfs" count
    count="$(layout_busybox_rootfs "$root")"
    # Reproducible: same busybox and recipe give the same bytes (and so the
    # same image label), whoever built it and when.
    tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 \
        -C "$root" -cf "$work/rootfs.tar" .
    mv -f "$work/rootfs.tar" "$BUSYBOX_TAR"
    printf '%s\n' "$stamp" >"$work/stamp"
    mv -f "$work/stamp" "$BUSYBOX_STAMP"
    log "built ${BUSYBOX_TAR#"$REPO_ROOT"/} ($count applets, $(($(stat -c %s "$BUSYBOX_TAR") / 1024)) KiB)"
}

# --- busybox image in the Docker daemon ---------------------------------------------

ensure_busybox_image() {
    local tar_sha old_id=""
    tar_sha="$(sha256_of "$BUSYBOX_TAR")"
    docker_api GET "/images/$BUSYBOX_IMAGE/json"
    case "$API_STATUS" in
        200)
            if grep -qF "\"$ROOTFS_LABEL\":\"$tar_sha\"" "$API_BODY"; then
                debug "image up to date: $BUSYBOX_IMAGE"
                return 0
            fi
            old_id="$(grep -o '"Id":"sha256:[0-9a-f]*"' "$API_BODY" | head -n1 | cut -d'"' -f4)"
            ;;
        404) ;;
        *) die "cannot inspect $BUSYBOX_IMAGE: $(api_error)" ;;
    esac

    # POST /images/create?fromSrc=- is `docker import`; `changes` are
    # Dockerfile instructions: ENV PATH=/bin, CMD ["sh"], LABEL <key>=<sha>.
    local query="fromSrc=-&repo=$BUSYBOX_IMAGE_REPO&tag=$BUSYBOX_IMAGE_TAG"
    query+="&changes=ENV%20PATH%3D%2Fbin"
    query+="&changes=CMD%20%5B%22sh%22%5D"
    query+="&changes=LABEL%20$ROOTFS_LABEL%3D$tar_sha"
    docker_api POST "/images/create?$query" \
        -H 'Content-Type: application/x-tar' --data-binary "@$BUSYBOX_TAR"
    # Errors during an import arrive as {"error": ...} in a 200 stream.
    if [[ $API_STATUS != 200 ]] || grep -q '"error"' "$API_BODY"; then
        die "importing $BUSYBOX_IMAGE failed: $(api_error)"
    fi

    docker_api GET "/images/$BUSYBOX_IMAGE/json"
    [[ $API_STATUS == 200 ]] || die "$BUSYBOX_IMAGE missing right after the import: $(api_error)"
    grep -qF "\"$ROOTFS_LABEL\":\"$tar_sha\"" "$API_BODY" ||
        die "$BUSYBOX_IMAGE lacks the label $ROOTFS_LABEL=$tar_sha after the import (does this daemon accept LABEL in import changes?)"
    local new_id
    new_id="$(grep -o '"Id":"sha256:[0-9a-f]*"' "$API_BODY" | head -n1 | cut -d'"' -f4)"
    log "imported $BUSYBOX_IMAGE (${new_id:0:19}) into the daemon at $DOCKER_DESC"

    # Drop the image this one replaced, if nothing else uses or names it.
    if [[ -n $old_id && $old_id != "$new_id" ]]; then
        docker_api DELETE "/images/$old_id"
        if [[ $API_STATUS == 200 ]]; then log "removed the previous image ${old_id:0:19}"; fi
    fi
}

verify_busybox_image() {
    docker_api GET "/images/$BUSYBOX_IMAGE/json"
    [[ $API_STATUS == 200 ]] || die "$BUSYBOX_IMAGE is not in the daemon at $DOCKER_DESC: $(api_error)"
    debug "verified: $BUSYBOX_IMAGE"
}

# --- dind runtime prerequisites ---------------------------------------------------

# The dind tests (tests/dind_*.rs) run real containers: they need user
# namespaces, the memory and pids cgroup controllers (v1 or v2), and the
# tools their steps call (mount, unshare, hostname). A missing kernel
# facility is an error here, never a skip in the tests.
cgroup_controller_available() {
    local c="$1"
    [[ -e /sys/fs/cgroup/$c/cgroup.procs ]] && return 0
    local f
    for f in /sys/fs/cgroup/cgroup.controllers /sys/fs/cgroup/unified/cgroup.controllers; do
        [[ -r $f ]] && grep -qw "$c" "$f" && return 0
    done
    return 1
}

ensure_dind_host() {
    apt_install mount util-linux hostname
    local max
    max="$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)"
    ((max > 0)) || die "user namespaces are disabled (user.max_user_namespaces=$max); the dind tests need them: sysctl -w user.max_user_namespaces=15000"
    local c
    for c in memory pids; do
        cgroup_controller_available "$c" || die "no $c cgroup controller (v1 or v2) on this host; the dind limit tests need it"
    done
    debug "dind prerequisites present (user namespaces: $max)"
}

# --- Podman's Docker-compatible service (the dood tests run against it too) ---------

PODMAN_SOCK=/run/podman/podman.sock
PODMAN_CONF=/etc/containers/containers.conf
PODMAN_CONF_MARKER="# Written by nestci's scripts/test-env.sh (nestci-test-env)."
PODMAN_LOG=/var/log/nestci-podman-service.log

# A service whose working directory was deleted still answers /_ping but
# cannot start containers (conmon: "Failed to get working directory"):
# stop it so that it is started again from /.
podman_stale_service() {
    local pid
    for pid in $(pgrep -f "podman system service .*$PODMAN_SOCK" || true); do
        if [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == *" (deleted)" ]]; then
            kill "$pid" 2>/dev/null || true
            local i
            for ((i = 0; i < 50; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            log "stopped podman service $pid: its working directory was deleted"
        fi
    done
}

podman_ping() {
    curl --silent --fail --max-time 2 --unix-socket "$PODMAN_SOCK" http://podman/_ping >/dev/null 2>&1
}

# containers.conf: crun refuses this host's hybrid cgroup layout and raising
# RLIMIT_NOFILE/NPROC is not permitted (HOST-FACTS.md), so runc, cgroupfs and
# no default ulimits. A file we did not write is left alone if it already
# says the same; otherwise we stop rather than overwrite it.
ensure_podman_conf() {
    local want
    want="$(printf '%s\n' "$PODMAN_CONF_MARKER" \
        '[containers]' 'default_ulimits = []' '' \
        '[engine]' 'runtime = "runc"' 'cgroup_manager = "cgroupfs"')"
    if [[ -f $PODMAN_CONF ]]; then
        if [[ "$(cat "$PODMAN_CONF")" == "$want" ]]; then
            debug "up to date: $PODMAN_CONF"
            return 0
        fi
        if ! grep -qF "$PODMAN_CONF_MARKER" "$PODMAN_CONF"; then
            if grep -q 'default_ulimits *= *\[\]' "$PODMAN_CONF" && grep -q 'runtime *= *"runc"' "$PODMAN_CONF" &&
                grep -q 'cgroup_manager *= *"cgroupfs"' "$PODMAN_CONF"; then
                debug "$PODMAN_CONF (not ours) already has what Podman needs here"
                return 0
            fi
            die "$PODMAN_CONF exists and lacks default_ulimits = [], runtime = \"runc\" or cgroup_manager = \"cgroupfs\"; add them (see HOST-FACTS.md) or move the file away"
        fi
    fi
    mkdir -p "$(dirname "$PODMAN_CONF")"
    printf '%s\n' "$want" >"$PODMAN_CONF"
    log "wrote $PODMAN_CONF"
}

ensure_podman_service() {
    apt_install podman
    ensure_podman_conf
    podman_stale_service
    if podman_ping; then
        debug "Podman answers at $PODMAN_SOCK"
        return 0
    fi
    ((EUID == 0)) || die "Podman's service is not running at $PODMAN_SOCK and starting it needs root"
    mkdir -p "$(dirname "$PODMAN_SOCK")"
    # Detached into its own session so it outlives this script; --time=0
    # keeps it running without clients. It must not inherit fd 9, the lock.
    # It starts in / : conmon needs the service's working directory, and a
    # checkout (CI's fresh clone) may be deleted while the service lives on.
    (cd / && exec setsid nohup podman system service --time=0 "unix://$PODMAN_SOCK" \
        >>"$PODMAN_LOG" 2>&1 </dev/null 9>&-) &
    local i
    for ((i = 0; i < 100; i++)); do
        podman_ping && break
        sleep 0.1
    done
    podman_ping || die "podman system service did not answer at $PODMAN_SOCK within 10 s; see $PODMAN_LOG"
    log "started podman system service at $PODMAN_SOCK (pid $!, log $PODMAN_LOG)"
}

# The busybox image, copied from the Docker daemon (`docker save` through the
# API) into Podman (`/images/load`); Podman names it localhost/nestci-test/busybox.
ensure_podman_busybox() {
    local want have
    docker_api GET "/images/$BUSYBOX_IMAGE/json"
    [[ $API_STATUS == 200 ]] || die "$BUSYBOX_IMAGE missing in the Docker daemon: $(api_error)"
    want="$(grep -o '"Id":"sha256:[0-9a-f]*"' "$API_BODY" | head -n1 | cut -d'"' -f4)"
    have="$(curl --silent --unix-socket "$PODMAN_SOCK" \
        "http://podman/$DOCKER_API_VERSION/images/$BUSYBOX_IMAGE/json" |
        grep -o '"Id":"sha256:[0-9a-f]*"' | head -n1 | cut -d'"' -f4 || true)"
    if [[ -n $want && $want == "$have" ]]; then
        debug "Podman has $BUSYBOX_IMAGE"
        return 0
    fi
    docker_api GET "/images/$BUSYBOX_IMAGE/get"
    [[ $API_STATUS == 200 ]] || die "exporting $BUSYBOX_IMAGE from the Docker daemon failed: $(api_error)"
    mv -f "$API_BODY" "$WORK_DIR/busybox-image.tar"
    local status
    status="$(curl --silent --show-error --unix-socket "$PODMAN_SOCK" -X POST \
        -H 'Content-Type: application/x-tar' --data-binary "@$WORK_DIR/busybox-image.tar" \
        -o "$WORK_DIR/podman-load.out" -w '%{http_code}' \
        "http://podman/$DOCKER_API_VERSION/images/load")" || status=000
    [[ $status == 200 ]] || die "loading $BUSYBOX_IMAGE into Podman failed: HTTP $status $(cat "$WORK_DIR/podman-load.out" 2>/dev/null)"
    log "loaded $BUSYBOX_IMAGE into Podman at $PODMAN_SOCK"
}

# --- the image as a `docker save` archive (dind imports) ---------------------------

BUSYBOX_SAVE_TAR="$FIXTURES_DIR/busybox-docker-save.tar"
BUSYBOX_SAVE_ID="$FIXTURES_DIR/busybox-docker-save.id"

ensure_busybox_save_archive() {
    local want
    docker_api GET "/images/$BUSYBOX_IMAGE/json"
    [[ $API_STATUS == 200 ]] || die "$BUSYBOX_IMAGE missing in the Docker daemon: $(api_error)"
    want="$(grep -o '"Id":"sha256:[0-9a-f]*"' "$API_BODY" | head -n1 | cut -d'"' -f4)"
    if [[ -f $BUSYBOX_SAVE_TAR && -f $BUSYBOX_SAVE_ID && $(cat "$BUSYBOX_SAVE_ID") == "$want" ]]; then
        debug "$BUSYBOX_SAVE_TAR is up to date"
        return 0
    fi
    docker_api GET "/images/$BUSYBOX_IMAGE/get"
    [[ $API_STATUS == 200 ]] || die "exporting $BUSYBOX_IMAGE from the Docker daemon failed: $(api_error)"
    mv -f "$API_BODY" "$BUSYBOX_SAVE_TAR"
    printf '%s\n' "$want" >"$BUSYBOX_SAVE_ID"
    log "saved $BUSYBOX_IMAGE as $BUSYBOX_SAVE_TAR"
}

# --- a local registry (pull policy and pull progress tests) ----------------------

REGISTRY_ADDR=127.0.0.1:5000
# Machine state, like the Podman service: the registry outlives this checkout
# (CI's clone is deleted after each run), so it lives outside it.
REGISTRY_DIR=/var/lib/nestci-test/registry
REGISTRY_IMAGE="$REGISTRY_ADDR/$BUSYBOX_IMAGE_REPO"
REGISTRY_LOG="$REGISTRY_DIR/registry.log"

registry_ping() {
    curl --silent --fail --max-time 2 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1
}

# A registry started by an older version of this script, from a checkout that
# is gone, serves storage that no longer exists: stop it so that it is
# started again with the config below.
registry_stale_service() {
    local pid
    for pid in $(pgrep -f "docker-registry serve" || true); do
        if ! grep -qF "$REGISTRY_DIR/config.yml" "/proc/$pid/cmdline" 2>/dev/null \
            || [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == *" (deleted)" ]]; then
            kill "$pid" 2>/dev/null || true
            local i
            for ((i = 0; i < 50; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            log "stopped docker-registry $pid: it did not run from $REGISTRY_DIR"
        fi
    done
}

# Debian's docker-registry with a config of our own: loopback only, no
# auth, storage under target/fixtures (the packaged config wants htpasswd).
ensure_registry() {
    apt_install docker-registry
    registry_stale_service
    if registry_ping; then
        debug "registry answers at $REGISTRY_ADDR"
    else
        mkdir -p "$REGISTRY_DIR/storage"
        cat >"$REGISTRY_DIR/config.yml" <<EOF_REGISTRY
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/storage
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF_REGISTRY
        # Its own session, outliving this script; never fd 9 (the lock).
        (cd / && exec setsid nohup docker-registry serve "$REGISTRY_DIR/config.yml" \
            >>"$REGISTRY_LOG" 2>&1 </dev/null 9>&-) &
        local i
        for ((i = 0; i < 100; i++)); do
            registry_ping && break
            sleep 0.1
        done
        registry_ping || die "docker-registry did not answer at $REGISTRY_ADDR within 10 s; see $REGISTRY_LOG"
        log "started docker-registry at $REGISTRY_ADDR (pid $!, log $REGISTRY_LOG)"
    fi
    # The busybox image, pushed there once (tag + push through the Engine API).
    if curl --silent --fail "http://$REGISTRY_ADDR/v2/$BUSYBOX_IMAGE_REPO/manifests/$BUSYBOX_IMAGE_TAG" \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null 2>&1; then
        debug "registry has $BUSYBOX_IMAGE"
        return 0
    fi
    docker_api POST "/images/$BUSYBOX_IMAGE/tag?repo=$REGISTRY_IMAGE&tag=$BUSYBOX_IMAGE_TAG"
    [[ $API_STATUS == 201 ]] || die "tagging $BUSYBOX_IMAGE as $REGISTRY_IMAGE failed: $(api_error)"
    # X-Registry-Auth is required even without auth: base64 of "{}".
    docker_api POST "/images/$REGISTRY_IMAGE/push?tag=$BUSYBOX_IMAGE_TAG" -H 'X-Registry-Auth: e30='
    if [[ $API_STATUS != 200 ]] || grep -q '"error"' "$API_BODY"; then
        die "pushing $REGISTRY_IMAGE failed: $(api_error)"
    fi
    log "pushed $BUSYBOX_IMAGE to the registry at $REGISTRY_ADDR"
}

# --- a minimal Debian image (runner image base, bash and glibc userland) ------------

DEBIAN_IMAGE_REPO=nestci-test/debian
DEBIAN_IMAGE_TAG=bookworm
DEBIAN_IMAGE="$DEBIAN_IMAGE_REPO:$DEBIAN_IMAGE_TAG"
# Bump when the mmdebstrap recipe below changes, to force a rebuild.
DEBIAN_RECIPE_VERSION=1
DEBIAN_RECIPE_LABEL=org.nestci.fixture.debian-recipe

ensure_debian_image() {
    docker_api GET "/images/$DEBIAN_IMAGE/json"
    case "$API_STATUS" in
        200)
            if grep -qF "\"$DEBIAN_RECIPE_LABEL\":\"$DEBIAN_RECIPE_VERSION\"" "$API_BODY"; then
                debug "image up to date: $DEBIAN_IMAGE"
                return 0
            fi
            ;;
        404) ;;
        *) die "cannot inspect $DEBIAN_IMAGE: $(api_error)" ;;
    esac
    apt_install mmdebstrap
    # minbase: Essential packages and apt (bash, coreutils, glibc), ~170 MB.
    # The mirror is Debian's, the one registry this host reaches; a tarball
    # on stdout needs no scratch rootfs on disk.
    local tar="$WORK_DIR/debian-rootfs.tar"
    mmdebstrap --quiet --variant=minbase --mode=root bookworm "$tar" \
        >"$WORK_DIR/mmdebstrap.log" 2>&1 ||
        die "mmdebstrap bookworm failed: $(tail -n 5 "$WORK_DIR/mmdebstrap.log")"
    local query="fromSrc=-&repo=$DEBIAN_IMAGE_REPO&tag=$DEBIAN_IMAGE_TAG"
    query+="&changes=ENV%20PATH%3D%2Fusr%2Flocal%2Fsbin%3A%2Fusr%2Flocal%2Fbin%3A%2Fusr%2Fsbin%3A%2Fusr%2Fbin%3A%2Fsbin%3A%2Fbin"
    query+="&changes=CMD%20%5B%22bash%22%5D"
    query+="&changes=LABEL%20$DEBIAN_RECIPE_LABEL%3D$DEBIAN_RECIPE_VERSION"
    docker_api POST "/images/create?$query" \
        -H 'Content-Type: application/x-tar' --data-binary "@$tar"
    if [[ $API_STATUS != 200 ]] || grep -q '"error"' "$API_BODY"; then
        die "importing $DEBIAN_IMAGE failed: $(api_error)"
    fi
    rm -f "$tar"
    log "imported $DEBIAN_IMAGE (mmdebstrap minbase) into the daemon at $DOCKER_DESC"
}

# --- an unprivileged user for the rootless dind tests ------------------------------

ROOTLESS_USER=nestci-test
ROOTLESS_HOME=/var/lib/nestci-test/home
ROOTLESS_RANGE=300000-365535

ensure_rootless_user() {
    apt_install uidmap
    if ! id -u "$ROOTLESS_USER" >/dev/null 2>&1; then
        mkdir -p "$(dirname "$ROOTLESS_HOME")"
        useradd --system --create-home --home-dir "$ROOTLESS_HOME" \
            --shell /usr/sbin/nologin "$ROOTLESS_USER"
        log "created the user $ROOTLESS_USER (home $ROOTLESS_HOME)"
    fi
    # System users get no subordinate ids by default; one range each, far
    # from the 100000:65536 that root's jobs use.
    if ! grep -q "^$ROOTLESS_USER:" /etc/subuid 2>/dev/null; then
        usermod --add-subuids "$ROOTLESS_RANGE" "$ROOTLESS_USER"
        log "gave $ROOTLESS_USER the subordinate uids $ROOTLESS_RANGE"
    fi
    if ! grep -q "^$ROOTLESS_USER:" /etc/subgid 2>/dev/null; then
        usermod --add-subgids "$ROOTLESS_RANGE" "$ROOTLESS_USER"
        log "gave $ROOTLESS_USER the subordinate gids $ROOTLESS_RANGE"
    fi
    command -v newuidmap >/dev/null || die "newuidmap missing although uidmap is installed"
    debug "rootless user $ROOTLESS_USER ready"
}

# --- main ----------------------------------------------------------------------

main() {
    trap cleanup EXIT
    take_lock
    make_work_dir
    ensure_host_packages
    ensure_dind_host
    ensure_rootless_user
    ensure_busybox_rootfs
    ensure_docker_daemon
    ensure_busybox_image
    verify_busybox_image
    ensure_busybox_save_archive
    ensure_podman_service
    ensure_podman_busybox
    ensure_registry
    ensure_debian_image
}

main "$@"
