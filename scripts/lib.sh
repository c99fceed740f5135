# Shared helpers for scrubctl's scripts (sourced, not run).
# shellcheck shell=bash

SCRUBCTL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${SCRUBCTL_VENV:-$SCRUBCTL_ROOT/.venv}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root (or sudo) to run: $*"; fi
}

apt_install() {
    # apt_install PACKAGE...: install Debian packages that are missing, retrying the lists lock.
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    local attempt
    for attempt in 1 2 3 4 5; do
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq && break
        [ "$attempt" -eq 5 ] && die "apt-get update failed"
        sleep $((attempt * 3))
    done
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

# The system Python: Ceph's rados/rbd bindings are Debian packages built for it.
system_python() {
    if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then
        apt_install python3 python3-venv python3-pip
    fi
    echo /usr/bin/python3
}

ensure_venv() {
    # ensure_venv EXTRAS: a virtualenv on the system Python (with its site packages, for rados/rbd)
    # holding scrubctl in editable mode with the given extras.
    local extras=${1:-}
    local python
    python=$(system_python)
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        "$python" -m venv --system-site-packages "$VENV"
    fi
    local stamp="$VENV/.scrubctl-installed${extras:+-$extras}"
    if [ ! -f "$stamp" ] || [ "$SCRUBCTL_ROOT/pyproject.toml" -nt "$stamp" ]; then
        # pip and the build backend talk a lot (setuptools' editable-install warnings): all of it goes
        # to a log, shown only when the install fails.
        local log="$SCRUBCTL_ROOT/.run/install.log"
        mkdir -p "$(dirname "$log")"
        say "installing scrubctl${extras:+ with [$extras]} into $VENV (log: ${log#"$SCRUBCTL_ROOT"/})"
        "$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade pip >"$log" 2>&1 || true
        if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -e "$SCRUBCTL_ROOT${extras:+[$extras]}" \
            >>"$log" 2>&1; then
            cat "$log" >&2
            die "installing scrubctl failed (the log above is in $log)"
        fi
        touch "$stamp"
    fi
    # An editable install has no bytecode of its own (pip compiles only what it copies), and where
    # PYTHONDONTWRITEBYTECODE is set every run would compile the package again (~70 ms).
    "$VENV/bin/python" -m compileall -q "$SCRUBCTL_ROOT/scrubctl" >/dev/null || true
}

ensure_podman() {
    # ensure_podman: podman, runc and mmdebstrap installed, and CONTAINERS_CONF exported pointing at a
    # private file (no system file changed) with what podman needs on hosts with hybrid cgroups and a
    # fixed open-file limit: runc, the cgroupfs manager and explicit ulimits. A normal host needs none
    # of it, and it does no harm there.
    apt_install podman runc mmdebstrap uidmap
    local conf="$SCRUBCTL_ROOT/.run/containers.conf"
    mkdir -p "$(dirname "$conf")"
    cat >"$conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
    export CONTAINERS_CONF="$conf"
}

debian_rootfs() {
    # debian_rootfs NAME PACKAGE...: print the path of a Debian 12 root file system tarball made by
    # mmdebstrap from Debian's packages (variant essential plus PACKAGE...), kept in .run/rootfs and
    # made again only when the package list changes.
    local name=$1
    shift
    local directory="$SCRUBCTL_ROOT/.run/rootfs"
    local tarball="$directory/$name.tar" stamp="$directory/$name.packages"
    local packages
    packages=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
    mkdir -p "$directory"
    if [ ! -s "$tarball" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$packages" ]; then
        say "making the Debian root file system $name ($packages)"
        rm -f "$tarball" "$stamp"
        mmdebstrap --quiet --format=tar --variant=essential --include="$packages" bookworm "$tarball.partial" >&2 ||
            die "mmdebstrap could not make $name"
        mv "$tarball.partial" "$tarball"
        printf '%s\n' "$packages" >"$stamp"
    fi
    printf '%s\n' "$tarball"
}
