#!/usr/bin/env bash
# Install (or, with --uninstall, remove) edgecam as a hardened systemd service.
#
#   sudo systemd/install.sh                 # user, venv in /opt/edgecam, unit, default config; enable + start
#   sudo systemd/install.sh --uninstall     # stop, disable, remove unit and venv; keep /etc/edgecam
#   sudo systemd/install.sh --uninstall --purge   # ... and remove config, state, cache and the user
#
# Options:
#   --root DIR       install into DIR instead of / (also: DESTDIR=DIR). systemctl then only
#                    enables (symlinks, via systemctl --root) and nothing is started.
#   --src DIR        the edgecam source tree (default: the directory above this script)
#   --python PY      interpreter for the venv (default: /usr/bin/python3, the one picamera2 is built for)
#   --no-venv        do not create/update /opt/edgecam/venv
#   --no-pip         create the venv but do not pip-install edgecam into it
#   --no-user        do not create the edgecam user
#   --no-systemctl   never call systemctl (no enable/start/stop)
#   --dry-run        print the commands that would run, change nothing
#   --uninstall      reverse an installation; --purge also removes config, state, cache and the user
# Environment overrides (tests point them at recording scripts): SYSTEMCTL, SYSUSERS, USERDEL,
# GROUPDEL, PYTHON, PIP_ARGS (extra arguments for pip install).
#
# Idempotent: running it again upgrades the venv and the unit, restarts the service, and never
# touches an existing /etc/edgecam/edgecam.toml or /etc/edgecam/mqtt_password.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${DESTDIR:-/}
SRC=$(dirname "$script_dir")
PYTHON=${PYTHON:-/usr/bin/python3}
SYSTEMCTL=${SYSTEMCTL:-systemctl}
SYSUSERS=${SYSUSERS:-systemd-sysusers}
USERDEL=${USERDEL:-userdel}
GROUPDEL=${GROUPDEL:-groupdel}
PIP_ARGS=${PIP_ARGS:-}
do_venv=1 do_pip=1 do_user=1 do_systemctl=1 dry_run=0 uninstall=0 purge=0

die() { echo "install.sh: $*" >&2; exit 2; }
note() { echo "edgecam: $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift ;;
        --root=*) ROOT=${1#--root=} ;;
        --src) [ $# -ge 2 ] || die "--src needs a directory"; SRC=$2; shift ;;
        --src=*) SRC=${1#--src=} ;;
        --python) [ $# -ge 2 ] || die "--python needs an interpreter"; PYTHON=$2; shift ;;
        --python=*) PYTHON=${1#--python=} ;;
        --no-venv) do_venv=0 ;;
        --no-pip) do_pip=0 ;;
        --no-user) do_user=0 ;;
        --no-systemctl) do_systemctl=0 ;;
        --dry-run) dry_run=1 ;;
        --uninstall) uninstall=1 ;;
        --purge) purge=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1'; see --help" ;;
    esac
    shift
done
[ "$purge" = 0 ] || [ "$uninstall" = 1 ] || die "--purge only makes sense with --uninstall"
[ -n "$ROOT" ] || die "--root must not be empty; use --root / for the real system"
mkdir -p "$ROOT" 2>/dev/null || [ "$dry_run" = 1 ] || die "cannot create root directory $ROOT"
ROOT=$(cd "$ROOT" 2>/dev/null && pwd || echo "$ROOT")
ROOT=${ROOT%/}
on_live_system() { [ -z "$ROOT" ]; }   # ROOT "" means "/"

VENV=/opt/edgecam/venv
CONSTRAINTS=/opt/edgecam/pip-constraints.txt
UNIT=/etc/systemd/system/edgecam.service
SYSUSERS_CONF=/etc/sysusers.d/edgecam.conf
CONF_DIR=/etc/edgecam

# The venv sees the system site-packages, where the camera stack (python3-picamera2, simplejpeg, from
# the Raspberry Pi archive) is built against Debian's numpy. A newer numpy in the venv would shadow it
# and break `import picamera2` (numpy 2 vs 1.x ABI). So pip is constrained to the system's numpy.
constraint_args=()
pin_system_numpy() {   # $1: the constraints file to write
    local np
    np=$("$PYTHON" -c 'import numpy; print(numpy.__version__)' 2>/dev/null) || np=""
    if [ -z "$np" ]; then
        note "no system numpy for $PYTHON (python3-numpy): pip chooses numpy for the venv"
        return 0
    fi
    # opencv-python-headless >= 4.12 needs numpy 2: saying so up front spares pip downloading (and
    # rejecting) ~150 MB of newer opencv wheels on a numpy-1.x system such as Pi OS bookworm
    local opencv=""
    [ "${np%%.*}" -ge 2 ] 2>/dev/null || opencv="opencv-python-headless<4.12"
    run install -d -m 0755 "$(dirname "$1")"
    if [ "$dry_run" = 1 ]; then
        printf '+ echo numpy==%s > %q\n' "$np" "$1"
        [ -z "$opencv" ] || printf '+ echo %q >> %q\n' "$opencv" "$1"
    else
        printf '# written by install.sh: keep the system numpy the camera stack was built against\nnumpy==%s\n%s' \
            "$np" "${opencv:+$opencv$'\n'}" >"$1"
    fi
    constraint_args=(--constraint "$1")
    note "pip is constrained to the system's numpy $np ($1)"
}

run() {
    if [ "$dry_run" = 1 ]; then
        printf '+'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

systemctl_cmd() {
    [ "$do_systemctl" = 1 ] || return 0
    if on_live_system; then
        run "$SYSTEMCTL" "$@"
    else
        # Offline: only enable/disable make sense, as symlinks inside the root.
        case "$1" in
            enable|disable) run "$SYSTEMCTL" --root="$ROOT" "$1" edgecam.service ;;
        esac
    fi
}

if on_live_system && [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "installing into / needs root; run it with sudo (or use --root DIR to stage into a directory)"
fi

install_service() {
    [ -f "$SRC/pyproject.toml" ] || die "no pyproject.toml in $SRC; pass --src with the edgecam source tree"
    local example="$SRC/edgecam/config/example.toml"
    [ -f "$example" ] || die "missing $example; the source tree is incomplete"
    [ -f "$script_dir/edgecam.service" ] || die "missing $script_dir/edgecam.service"

    # 1. the dedicated user (systemd-sysusers works on an alternate root with --root)
    run install -D -m 0644 "$script_dir/edgecam.sysusers" "$ROOT$SYSUSERS_CONF"
    if [ "$do_user" = 1 ]; then
        if on_live_system; then
            run "$SYSUSERS" "$SYSUSERS_CONF"
        else
            run "$SYSUSERS" --root="$ROOT" "$(basename "$SYSUSERS_CONF")"
        fi
    fi

    # 2. the venv: system site-packages give it picamera2/libcamera (and python3-systemd) from apt
    if [ "$do_venv" = 1 ]; then
        command -v "$PYTHON" >/dev/null || die "python interpreter '$PYTHON' not found; install python3 or pass --python"
        if [ ! -x "$ROOT$VENV/bin/python" ]; then
            local venv_args=(--system-site-packages)
            [ "$do_pip" = 1 ] || venv_args+=(--without-pip)
            run "$PYTHON" -m venv "${venv_args[@]}" "$ROOT$VENV"
        else
            note "keeping venv $ROOT$VENV"
        fi
        if [ "$do_pip" = 1 ]; then
            pin_system_numpy "$ROOT$CONSTRAINTS"
            # shellcheck disable=SC2086  # PIP_ARGS is a list of words on purpose
            run "$ROOT$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade \
                "${constraint_args[@]}" $PIP_ARGS "$SRC"
            if [ "$dry_run" = 0 ]; then
                note "numpy in the venv: $("$ROOT$VENV/bin/python" -c 'import numpy; print(numpy.__version__, "from", numpy.__file__)' 2>&1 | tail -n 1)"
            fi
            if [ "$dry_run" = 0 ] && ! "$ROOT$VENV/bin/python" -c 'import systemd.daemon' 2>/dev/null; then
                note "python3-systemd is not installed: falling back to the built-in sd_notify client and"
                note "stderr logging. For structured journal fields: sudo apt install python3-systemd"
            fi
        fi
    fi

    # 3. the unit (ours: always replaced; local changes belong in a drop-in)
    run install -D -m 0644 "$script_dir/edgecam.service" "$ROOT$UNIT"

    # 4. config: never overwrite an existing (possibly edited) file
    run install -d -m 0755 "$ROOT$CONF_DIR"
    if [ -e "$ROOT$CONF_DIR/edgecam.toml" ]; then
        note "keeping existing $ROOT$CONF_DIR/edgecam.toml"
    else
        run install -m 0644 "$example" "$ROOT$CONF_DIR/edgecam.toml"
        note "installed default config $ROOT$CONF_DIR/edgecam.toml; edit it, then: sudo systemctl restart edgecam"
    fi
    # LoadCredential= refuses to start the service when its file is missing: create it empty
    # (= no password) and root-only. Only PID 1 reads it; the service sees a private copy.
    if [ ! -e "$ROOT$CONF_DIR/mqtt_password" ]; then
        run install -m 0600 /dev/null "$ROOT$CONF_DIR/mqtt_password"
    fi

    # 5. enable and (re)start
    if on_live_system; then
        systemctl_cmd daemon-reload
        systemctl_cmd enable edgecam.service
        systemctl_cmd restart edgecam.service
        [ "$do_systemctl" = 0 ] || note "started; follow the logs with: journalctl -u edgecam -f"
    else
        systemctl_cmd enable
    fi
    note "installed into ${ROOT:-/}"
}

uninstall_service() {
    if on_live_system; then
        if [ "$do_systemctl" = 1 ] && [ "$dry_run" = 0 ] && ! "$SYSTEMCTL" cat edgecam.service >/dev/null 2>&1; then
            note "edgecam.service is not loaded; nothing to stop"
        else
            systemctl_cmd disable --now edgecam.service
        fi
    elif [ -e "$ROOT$UNIT" ]; then
        systemctl_cmd disable
    fi
    if [ -e "$ROOT$UNIT" ] || [ "$dry_run" = 1 ]; then
        run rm -f "$ROOT$UNIT"
    fi
    if on_live_system; then
        systemctl_cmd daemon-reload
        [ "$do_systemctl" = 0 ] || [ "$dry_run" = 1 ] || "$SYSTEMCTL" reset-failed edgecam.service 2>/dev/null || true
    fi
    run rm -rf "$ROOT/opt/edgecam"
    run rm -f "$ROOT$SYSUSERS_CONF"
    if [ "$purge" = 1 ]; then
        run rm -rf "$ROOT$CONF_DIR" "$ROOT/var/lib/edgecam" "$ROOT/var/cache/edgecam"
        if [ "$do_user" = 1 ] && { [ "$dry_run" = 1 ] || grep -q '^edgecam:' "$ROOT/etc/passwd" 2>/dev/null; }; then
            if on_live_system; then
                run "$USERDEL" edgecam
            else
                run "$USERDEL" --prefix "$ROOT" edgecam
            fi
        fi
        if [ "$do_user" = 1 ] && [ "$dry_run" = 0 ] && grep -q '^edgecam:' "$ROOT/etc/group" 2>/dev/null; then
            if on_live_system; then run "$GROUPDEL" edgecam; else run "$GROUPDEL" --prefix "$ROOT" edgecam; fi
        fi
    else
        note "kept $ROOT$CONF_DIR, $ROOT/var/lib/edgecam and the edgecam user (remove them with --purge)"
    fi
    note "uninstalled from ${ROOT:-/}"
}

if [ "$uninstall" = 1 ]; then uninstall_service; else install_service; fi
