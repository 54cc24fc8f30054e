#!/usr/bin/env bash
# Start-to-exit cost of a one-step `true`, median of N runs (default 50):
# the whole `nestci run` process (dind, image host) against util-linux
# `unshare` + chroot, bwrap, crun and runc on the busybox rootfs of
# scripts/test-env.sh. Tools that are not installed are listed as such
# (Debian: bubblewrap, crun, runc). Prints a Markdown table.
#
#   scripts/test-env.sh && cargo build --release && scripts/bench-dind.sh [N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N="${1:-50}"
NESTCI="${NESTCI:-target/release/nestci}"
ROOTFS_TAR=target/fixtures/busybox-rootfs.tar
[[ -x $NESTCI ]] || { echo "build first: cargo build --release" >&2; exit 1; }
[[ -f $ROOTFS_TAR ]] || { echo "run scripts/test-env.sh first" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf -- "$WORK"' EXIT
mkdir -p "$WORK/rootfs" "$WORK/ws"
tar -C "$WORK/rootfs" -xf "$ROOTFS_TAR"
cat >"$WORK/true.yml" <<'YML'
name: bench
image: host
jobs:
  t:
    steps:
      - run: "true"
YML

# median_ms CMD...: run CMD N times, print the median wall time in ms.
median_ms() {
    local i start end
    local -a times=()
    for ((i = 0; i < N; i++)); do
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.2f", m/1000}'
}

row() { printf '| %s | %s |\n' "$1" "$2"; }

echo "| what (median of $N) | ms |"
echo "|---|---|"
row "fork+exec \`true\`" "$(median_ms /bin/true)"
row "\`nestci run\` one-step pipeline (whole process, dind)" \
    "$(median_ms "$NESTCI" run "$WORK/true.yml" --mode dind --workspace "$WORK/ws" --color never)"
row "\`unshare -Urmpfiun\` + chroot" \
    "$(median_ms unshare --user --map-root-user --mount --pid --fork --uts --ipc --net chroot "$WORK/rootfs" /bin/true)"
if command -v bwrap >/dev/null; then
    row "\`bwrap --unshare-all\`" "$(median_ms bwrap --unshare-all --bind "$WORK/rootfs" / /bin/true)"
else
    row "\`bwrap --unshare-all\`" "not installed (apt-get install bubblewrap)"
fi
if command -v runc >/dev/null; then
    mkdir -p "$WORK/bundle"
    (cd "$WORK/bundle" && runc spec --rootless)
    sed -i "s|\"terminal\": true|\"terminal\": false|; s|\"sh\"|\"/bin/true\"|; s|\"path\": \"rootfs\"|\"path\": \"$WORK/rootfs\"|" \
        "$WORK/bundle/config.json"
    row "\`runc run\` (rootless spec)" "$(median_ms runc --root "$WORK/runc-state" run --bundle "$WORK/bundle" bench-$$)"
else
    row "\`runc run\`" "not installed (apt-get install runc)"
fi
if command -v crun >/dev/null; then
    row "\`crun run\`" "not measured here: crun refuses hybrid cgroups outside a mount namespace without the cgroup2 mount (HOST-FACTS)"
else
    row "\`crun run\`" "not installed (apt-get install crun)"
fi
