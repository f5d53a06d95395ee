#!/usr/bin/env bash
# tests/deploy/container.sh — builds deploy/Containerfile and serves a chat completion from the
# image. No registry is reachable, so the Debian base the file names is made here with debootstrap
# (Debian's mirror only) and tagged as docker.io/library/debian:12 and :12-slim. The image is run
# with podman when podman can run containers on this machine, else its exported root filesystem is
# run by chroot (as the image's user). Checks: the image's user, port, volume, health check and
# entrypoint; /v2/health/ready; one chat completion from the bundled demo model; the chat page;
# the OVMS flags with a model from the /models volume. Prints the time each phase took.
#
#   bash tests/deploy/container.sh          (as root, or with sudo; needs podman or buildah, debootstrap)
#   bash tests/deploy/container.sh --base-only   only make the cached debootstrap tarball: network
#                                           bound, so scripts/test.sh runs it beside the C builds
#
# Caches, so that a second run costs a fraction of the first: the debootstrap tarball
# ($LM_CACHE_DIR, default ~/.cache/lmserve), the base images and the build's layers in container
# storage, and the host's .deb cache (/var/cache/apt/archives, LM_APT_ARCHIVES), which debootstrap
# and the build's apt-get both read and fill.
# LM_TEST_CONTAINER_RUNNER=chroot forces the chroot path; LM_DEBIAN_MIRROR picks the mirror.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUITE=bookworm
BASE_TAGS=(docker.io/library/debian:12 docker.io/library/debian:12-slim)
IMAGE=localhost/lmserve:test
MIRROR=${LM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${LM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lmserve}
WORK=$(mktemp -d /tmp/lmserve-container.XXXXXX)
T0=$(date +%s)
phase_start=$T0

say() { echo "container: $*"; }
fail() { echo "container: FAIL: $*" >&2; exit 1; }
phase() { # prints how long the phase that just ended took
    local now
    now=$(date +%s)
    say "$1 took $((now - phase_start)) s"
    phase_start=$now
}

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if sudo -n true 2>/dev/null; then SUDO="sudo"; else
        echo "container: SKIPPED: needs root (debootstrap, chroot) and sudo is not available"
        exit 0
    fi
fi
if command -v podman >/dev/null 2>&1; then TOOL=podman
elif command -v buildah >/dev/null 2>&1; then TOOL=buildah
else
    echo "container: SKIPPED: neither podman nor buildah is installed (scripts/install-deps.sh installs them)"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || { echo "container: SKIPPED: debootstrap is not installed"; exit 0; }

PID=""
CTR=""
MOUNTED=()
cleanup() {
    [ -n "$PID" ] && $SUDO kill "$PID" 2>/dev/null || true
    [ -n "$CTR" ] && $SUDO podman rm -f "$CTR" >/dev/null 2>&1 || true
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do $SUDO umount -l "${MOUNTED[i]}" 2>/dev/null || true; done
    $SUDO rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- the Debian base
image_exists() { $SUDO "$TOOL" inspect --type image "$1" >/dev/null 2>&1; }
mkdir -p "$CACHE"
TARBALL="$CACHE/debian-$SUITE-minbase.tar"
# The host's .deb cache (a Debian host's, same suite) serves debootstrap and the image build's apt:
# only what it lacks is downloaded, and what is downloaded stays for the next run.
APT_ARCHIVES=${LM_APT_ARCHIVES:-/var/cache/apt/archives}
$SUDO mkdir -p "$APT_ARCHIVES/partial"
BASE_ONLY=0
[ "${1:-}" = --base-only ] && BASE_ONLY=1
if [ "$BASE_ONLY" = 1 ] || ! image_exists "${BASE_TAGS[0]}" || ! image_exists "${BASE_TAGS[1]}"; then
    if [ ! -s "$TARBALL" ]; then
        say "debootstrap $SUITE (minbase) from $MIRROR"
        $SUDO debootstrap --variant=minbase --cache-dir="$APT_ARCHIVES" "$SUITE" "$WORK/rootfs" "$MIRROR" \
            >"$WORK/debootstrap.log" 2>&1 ||
            { tail -20 "$WORK/debootstrap.log"; fail "debootstrap failed"; }
        # as the official images: no package lists or .debs inside, an apt source set
        $SUDO rm -rf "$WORK/rootfs/var/lib/apt/lists/"* "$WORK/rootfs/var/cache/apt/archives/"*.deb
        echo "deb $MIRROR $SUITE main" | $SUDO tee "$WORK/rootfs/etc/apt/sources.list" >/dev/null
        $SUDO tar --numeric-owner -C "$WORK/rootfs" -cf "$TARBALL.part" .
        $SUDO mv "$TARBALL.part" "$TARBALL"
        $SUDO rm -rf "$WORK/rootfs"
    fi
    if [ "$BASE_ONLY" = 1 ]; then
        phase "base tarball"
        exit 0
    fi
    say "importing $TARBALL as ${BASE_TAGS[*]}"
    if [ "$TOOL" = podman ]; then
        $SUDO podman import --quiet "$TARBALL" "${BASE_TAGS[0]}" >/dev/null
        $SUDO podman tag "${BASE_TAGS[0]}" "${BASE_TAGS[1]}"
    else
        c=$($SUDO buildah from scratch)
        mnt=$($SUDO buildah mount "$c")
        $SUDO tar -C "$mnt" -xf "$TARBALL"
        $SUDO buildah umount "$c" >/dev/null
        $SUDO buildah commit --quiet "$c" "${BASE_TAGS[0]}" >/dev/null
        $SUDO buildah rm "$c" >/dev/null
        $SUDO buildah tag "${BASE_TAGS[0]}" "${BASE_TAGS[1]}"
    fi
fi
phase "base image"

# ---------------------------------------------------------------- build
say "building $IMAGE with $TOOL"
# chroot isolation: RUN steps need no OCI runtime and no cgroups (crun refuses hybrid cgroups)
build=(build --pull=never --format docker --isolation chroot --network host
       -v "$APT_ARCHIVES:/var/cache/apt/archives" -f deploy/Containerfile -t "$IMAGE")
[ "$TOOL" = buildah ] && build[0]=bud
$SUDO "$TOOL" "${build[@]}" . >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; fail "image build failed"; }
phase "image build"

# ---------------------------------------------------------------- the image's configuration
cfg() { $SUDO "$TOOL" inspect --type image --format "$1" "$IMAGE"; }
user=$(cfg '{{.Config.User}}')
[ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] || fail "the image runs as '$user', not a non-root user"
cfg '{{json .Config.ExposedPorts}}' | grep -q '"8000/tcp"' || fail "port 8000 is not exposed"
cfg '{{json .Config.Volumes}}' | grep -q '"/models"' || fail "/models is not a volume"
cfg '{{json .Config.Entrypoint}}' | grep -q '/usr/local/bin/lmserve' || fail "the entrypoint is not lmserve"
health=$($SUDO "$TOOL" inspect --type image "$IMAGE" | grep -A3 -i '"healthcheck"' || true)
echo "$health" | grep -q '/v2/health/ready' || fail "no HEALTHCHECK on /v2/health/ready"
size=$(cfg '{{.Size}}')
say "image: user $user, $((size / 1000000)) MB"

# ---------------------------------------------------------------- run
# A model in the /models volume, named as the OVMS flags name it.
mkdir -p "$WORK/models/tiny"
cp models/demo/stories260K.gguf models/demo/chat_template.jinja "$WORK/models/tiny/"
chmod -R a+rX "$WORK"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

can_run_podman() {
    [ "$TOOL" = podman ] && [ "${LM_TEST_CONTAINER_RUNNER:-}" != chroot ] &&
        $SUDO podman run --rm --network host --entrypoint /bin/true "$IMAGE" >/dev/null 2>"$WORK/podman-run.log"
}

# Starts the image with the given lmserve arguments; sets PID (chroot) or CTR (podman).
ROOTFS="$WORK/rootfs"
start() {
    if [ "$RUNNER" = podman ]; then
        CTR=lmserve-test-$$-$RANDOM
        $SUDO podman run -d --name "$CTR" --network host -v "$WORK/models:/models:ro" "$IMAGE" "$@" >/dev/null
    else
        $SUDO chroot --userspec="$user" "$ROOTFS" /usr/local/bin/lmserve "$@" >"$WORK/lmserve.log" 2>&1 &
        PID=$!
    fi
}
stop() {
    if [ "$RUNNER" = podman ]; then
        $SUDO podman rm -f "$CTR" >/dev/null
        CTR=""
    else
        $SUDO kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=""
    fi
}
logs() { if [ "$RUNNER" = podman ]; then $SUDO podman logs "$CTR" 2>&1 | tail -20; else tail -20 "$WORK/lmserve.log"; fi >&2; }

wait_ready() {
    local port=$1
    for _ in $(seq 1 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/health/ready")" = 200 ] && return 0
        sleep 0.1
    done
    logs
    fail "/v2/health/ready did not answer 200 on port $port"
}

# One chat completion; prints the answer's text, fails unless there is one (call it as an
# assignment, answer=$(chat ...), so that its failure stops the script).
chat() {
    local port=$1 model=$2 out
    out=$(curl -s -f "http://127.0.0.1:$port/v3/chat/completions" -H 'Content-Type: application/json' \
        -d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"max_tokens\":16}") ||
        { logs; fail "chat completion on $model failed"; }
    python3 -c 'import json,sys; t=json.load(sys.stdin)["choices"][0]["message"]["content"]; assert t.strip(), "empty"; print(t)' \
        <<<"$out" || fail "no answer text in: $out"
}

if can_run_podman; then
    RUNNER=podman
else
    RUNNER=chroot
    [ -s "$WORK/podman-run.log" ] && say "podman cannot run containers here ($(tail -1 "$WORK/podman-run.log")): using chroot"
    c=$($SUDO podman create --no-healthcheck "$IMAGE" 2>/dev/null || $SUDO buildah from --pull=never "$IMAGE")
    mkdir -p "$ROOTFS"
    if [ "$TOOL" = podman ]; then
        $SUDO podman export "$c" | $SUDO tar -C "$ROOTFS" -xf -
        $SUDO podman rm "$c" >/dev/null
    else
        mnt=$($SUDO buildah mount "$c")
        $SUDO cp -a "$mnt/." "$ROOTFS/"
        $SUDO buildah umount "$c" >/dev/null
        $SUDO buildah rm "$c" >/dev/null
    fi
    # what a container runtime would provide: /proc (lmserve finds its demo model through
    # /proc/self/exe), /dev, the name resolver's files and the volume
    for m in proc dev; do
        $SUDO mount --rbind "/$m" "$ROOTFS/$m"
        $SUDO mount --make-rslave "$ROOTFS/$m"
        MOUNTED+=("$ROOTFS/$m")
    done
    $SUDO mount --bind "$WORK/models" "$ROOTFS/models"
    MOUNTED+=("$ROOTFS/models")
fi
phase "runner setup ($RUNNER)"

# The image's default command: the bundled demo model. Its port is fixed (8000) in CMD, so here
# the same arguments are given with a free port.
port=$(free_port)
start --rest_port "$port"
wait_ready "$port"
answer=$(chat "$port" demo)
say "demo: $(echo "${answer:0:60}" | tr "\n" " ")"
page=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$port/")
[ "$page" = "200 text/html; charset=utf-8" ] || fail "chat page: $page"
stop

# OVMS's flags with a model from the /models volume.
port=$(free_port)
start --rest_port "$port" --model_path /models/tiny/stories260K.gguf --model_name tiny
wait_ready "$port"
curl -s "http://127.0.0.1:$port/v1/config" | grep -q '"tiny"' || fail "/v1/config does not list 'tiny'"
answer=$(chat "$port" tiny)
say "tiny from /models: $(echo "${answer:0:60}" | tr "\n" " ")"
stop
phase "runs"

say "PASS ($RUNNER) in $(($(date +%s) - T0)) s"
