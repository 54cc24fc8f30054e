#!/usr/bin/env bash
# What a dind container costs, median of N runs (default 50), as a Markdown
# table:
#
#   * start-to-exit of a one-step `true` pipeline: the whole `nestci run`
#     process (parse, plan, policy, job namespaces, one step, cleanup);
#   * the cost of one more step in a job, from a 1-step and a 21-step job:
#     (t21 - t1) / 20, each step a process in the job's namespaces;
#   * the same `true` in util-linux `unshare` + chroot, bwrap, crun and runc
#     on the busybox rootfs of scripts/test-env.sh. Tools that are not
#     installed are listed as such (Debian: bubblewrap, crun, runc).
#
# crun refuses this host's hybrid cgroup layout while the cgroup2 mount is
# visible (HOST-FACTS), so it runs in a private mount namespace with
# /sys/fs/cgroup/unified unmounted; the timing loop runs inside it so the
# workaround's own cost is not counted.
#
#   scripts/test-env.sh && cargo build --release && scripts/bench-dind.sh [N]
#
# The dood side (against the Engine API and `docker run`) is
# `cargo bench --bench dood_step`.
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

# pipeline FILE STEPS: a one-job pipeline on the host image running `true`
# STEPS times.
pipeline() {
    local i
    {
        printf 'name: bench\nimage: host\njobs:\n  t:\n    steps:\n'
        for ((i = 0; i < $2; i++)); do printf '      - run: "true"\n'; done
    } >"$1"
}
pipeline "$WORK/true.yml" 1
pipeline "$WORK/true21.yml" 21

# median_us CMD...: run CMD N times, print the median wall time in µs.
median_us() {
    local i start end
    local -a times=()
    for ((i = 0; i < N; i++)); do
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
ms() { awk -v us="$1" 'BEGIN {printf "%.2f", us / 1000}'; }

row() { printf '| %s | %s |\n' "$1" "$2"; }

nestci_run() { "$NESTCI" run "$1" --mode dind --workspace "$WORK/ws" --color never; }

echo "| what (median of $N) | ms |"
echo "|---|---|"
row "fork+exec \`true\`" "$(ms "$(median_us /bin/true)")"
one="$(median_us nestci_run "$WORK/true.yml")"
row "\`nestci run\` one-step pipeline (whole process, dind)" "$(ms "$one")"
many="$(median_us nestci_run "$WORK/true21.yml")"
row "one more step in a dind job ((21 steps - 1 step) / 20)" "$(ms $(((many - one) / 20)))"
row "\`unshare -Urmpfiun\` + chroot" \
    "$(ms "$(median_us unshare --user --map-root-user --mount --pid --fork --uts --ipc --net chroot "$WORK/rootfs" /bin/true)")"
if command -v bwrap >/dev/null; then
    row "\`bwrap --unshare-all\`" "$(ms "$(median_us bwrap --unshare-all --bind "$WORK/rootfs" / /bin/true)")"
else
    row "\`bwrap --unshare-all\`" "not installed (apt-get install bubblewrap)"
fi

# An OCI bundle running /bin/true on the busybox rootfs, for runc and crun.
bundle() {
    mkdir -p "$WORK/bundle"
    (cd "$WORK/bundle" && "$1" spec --rootless)
    sed -i "s|\"terminal\": true|\"terminal\": false|; s|\"sh\"|\"/bin/true\"|; s|\"path\": \"rootfs\"|\"path\": \"$WORK/rootfs\"|" \
        "$WORK/bundle/config.json"
}
if command -v runc >/dev/null; then
    bundle runc
    row "\`runc run\` (rootless spec)" \
        "$(ms "$(median_us runc --root "$WORK/runc-state" run --bundle "$WORK/bundle" bench-$$)")"
else
    row "\`runc run\`" "not installed (apt-get install runc)"
fi
if command -v crun >/dev/null; then
    rm -rf "$WORK/bundle"
    bundle crun
    export N WORK
    export -f median_us
    us="$(unshare --mount --propagation private bash -c '
        umount /sys/fs/cgroup/unified 2>/dev/null || true
        median_us crun --root "$WORK/crun-state" run --bundle "$WORK/bundle" bench-crun')"
    row "\`crun run\` (rootless spec; cgroup2 mount hidden)" "$(ms "$us")"
else
    row "\`crun run\`" "not installed (apt-get install crun)"
fi
