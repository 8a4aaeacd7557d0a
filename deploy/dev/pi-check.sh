#!/usr/bin/env bash
# make pi-check: install and run edgecam on Debian arm64 under qemu, the way a Raspberry Pi gets it.
#
#   deploy/dev/pi-check.sh [--suite bookworm] [--cpu cortex-a72] [--images DIR] [--shared DIR] [--keep]
#
# 1. builds (once; cached in ~/.cache/edgecam/pi-check) a Debian <suite> arm64 root with mmdebstrap:
#    python3, python3-venv, Debian's python3-numpy and python3-systemd, and a compiler for step 2;
# 2. compiles a stand-in for the Raspberry Pi archive's camera stack (deploy/dev/camera_standin.c)
#    against the system numpy's headers into the system site-packages, and shows it breaks under numpy 2;
# 3. runs systemd/install.sh inside the root (venv --system-site-packages in /opt/edgecam/venv, pip
#    constrained to the system numpy), and checks the venv's numpy is Debian's;
# 4. under QEMU_CPU=<cpu>: imports the stand-in from the service venv, runs `edgecam detect` with both
#    seed models, and the detector/YUV-conversion/tracking/config tests against the installed package.
# Needs root (chroot, bind mounts), network access to the Debian archive and PyPI, and qemu-user-static,
# mmdebstrap and binfmt-support (installed with apt-get when missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
suite=bookworm cpu=cortex-a72 shared="$repo/../shared" images="" keep=0
die() { echo "pi-check: $*" >&2; exit 2; }
step() { printf '\n== %s\n' "$*"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --suite) suite=${2:?}; shift ;;
        --cpu) cpu=${2:?}; shift ;;
        --images) images=${2:?}; shift ;;
        --shared) shared=${2:?}; shift ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1'; see --help" ;;
    esac
    shift
done
shared=$(cd "$shared" 2>/dev/null && pwd) || die "$shared: no shared data directory (models/, images/); pass --shared DIR"
images=${images:-$shared/images}
images=$(cd "$images" 2>/dev/null && pwd) || die "$images: no sample image directory; pass --images DIR"
[ -f "$images/horse.jpg" ] || die "$images/horse.jpg missing; pass --images DIR with the sample photos"
[ -f "$shared/models/yolov5ss.param" ] || die "$shared/models: no seed models; pass --shared DIR"
[ "$(id -u)" = 0 ] || die "needs root (chroot and bind mounts); run: sudo make pi-check"

# -- host tools ---------------------------------------------------------------------------------------
missing=""
command -v mmdebstrap >/dev/null || missing="$missing mmdebstrap"
[ -x /usr/bin/qemu-aarch64-static ] || missing="$missing qemu-user-static"
command -v update-binfmts >/dev/null || missing="$missing binfmt-support"
if [ -n "$missing" ]; then
    command -v apt-get >/dev/null || die "missing$missing and no apt-get; install them"
    echo "installing Debian packages:$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
        || die "cannot mount binfmt_misc (a container without it?); aarch64 programs cannot run here"
fi
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
    || die "qemu-aarch64 is not registered with binfmt_misc (flag F); run: update-binfmts --enable qemu-aarch64"

# -- the cached root file system -------------------------------------------------------------------------
packages=python3,python3-venv,python3-pip,python3-numpy,python3-systemd,python3-dev,gcc,libc6-dev,ca-certificates
cache=${XDG_CACHE_HOME:-$HOME/.cache}/edgecam/pi-check
key=$(printf '%s %s' "$suite" "$packages" | sha256sum | cut -c1-12)
tarball="$cache/$suite-arm64-$key.tar"
mkdir -p "$cache/pip"
if [ ! -f "$tarball" ]; then
    step "building the Debian $suite arm64 root (once; a few minutes) → $tarball"
    mmdebstrap --quiet --variant=apt --architectures=arm64 --include="$packages" \
        "$suite" "${tarball%.tar}.part.tar" http://deb.debian.org/debian   # .tar: mmdebstrap writes a tarball
    mv "${tarball%.tar}.part.tar" "$tarball"
else
    step "reusing the cached Debian $suite arm64 root $tarball"
fi

work=$(mktemp -d /tmp/edgecam-pi-check.XXXXXX)
root="$work/root"
mounts=()
cleanup() {
    for ((i=${#mounts[@]}-1; i>=0; i--)); do umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" || true; done
    if findmnt -rn -o TARGET | grep -q "^$work/"; then   # never delete through a bind mount (/dev!)
        echo "pi-check: mounts remain under $work; not deleting it" >&2
    elif [ "$keep" = 1 ]; then
        echo "kept $root"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
bind() {   # bind SRC DEST [ro]
    mkdir -p "$2"; mount --bind "$1" "$2"; mounts+=("$2")
    [ "${3:-}" != ro ] || mount -o remount,bind,ro "$2"
}
mkdir -p "$root" && tar -xf "$tarball" -C "$root"
# the project as a Pi user would copy it: the tracked (and new, not ignored) files of the checkout
mkdir -p "$root/src"
git -C "$repo" ls-files -co --exclude-standard -z | (cd "$repo" && tar --null -T - -cf -) | tar -xf - -C "$root/src"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# trust what the host trusts (a proxy's CA, if the network has one) for pip's downloads
[ ! -f /etc/ssl/certs/ca-certificates.crt ] || cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
mount -t proc proc "$root/proc"; mounts+=("$root/proc")
bind /dev "$root/dev"
bind "$shared" "$root/shared" ro
bind "$images" "$root/images" ro
bind "$cache/pip" "$root/root/.cache/pip"

inroot() {   # run a shell script inside the root, as the emulated CPU, with a clean environment
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        QEMU_CPU="$cpu" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=120 PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
        chroot "$root" /bin/bash -euo pipefail -c "$1"
}

step "the machine: Debian $suite $(inroot 'uname -m'), QEMU_CPU=$cpu, $(inroot 'python3 --version')"
inroot 'echo "system numpy $(python3 -c "import numpy; print(numpy.__version__)"), python3-systemd $(python3 -c "import systemd.daemon, importlib.metadata as m; print(m.version(\"systemd-python\"))")"'

step "stand-in camera stack: compiled against the system numpy's headers into the system site-packages"
inroot '
site=/usr/lib/python3/dist-packages
inc=$(python3 -c "import numpy; print(numpy.get_include())")
gcc -shared -fPIC -O1 $(python3-config --includes) -I"$inc" /src/deploy/dev/camera_standin.c \
    -o "$site/camera_standin$(python3-config --extension-suffix)"
python3 -c "import camera_standin; print(\"system python imports it:\", camera_standin.frame().shape)"'

step "systemd/install.sh (venv --system-site-packages, pip constrained to the system numpy)"
inroot '/src/systemd/install.sh --no-user --no-systemctl'
cat "$root/opt/edgecam/pip-constraints.txt"

step "numpy inside the service venv must be Debian's"
inroot '/opt/edgecam/venv/bin/python - <<PY
import numpy, sys
print("venv numpy", numpy.__version__, "from", numpy.__file__)
sys.exit(0 if numpy.__file__.startswith("/usr/lib/python3/dist-packages/") else "numpy in the venv is not the system one")
PY'
inroot '/opt/edgecam/venv/bin/python -m pip list --path /opt/edgecam/venv/lib/python3*/site-packages 2>/dev/null | sed -n "3,\$p" | tr -s " " | paste -sd" " | sed "s/^/pip-installed into the venv: /"'
inroot 'for m in torch onnx pnnx matplotlib pycocotools; do /opt/edgecam/venv/bin/python -c "import $m" 2>/dev/null && { echo "workstation/dev package $m got installed"; exit 1; }; done; echo "no torch, onnx, pnnx, matplotlib or pycocotools in the venv"'

step "the camera stand-in imports in the service venv (the ABI the camera stack needs is intact)"
inroot '/opt/edgecam/venv/bin/python -c "import camera_standin; print(\"camera_standin OK\", camera_standin.frame().shape)"'

step "control: with numpy 2 shadowing the system numpy, the stand-in fails as picamera2 would"
inroot '
if [ "$(python3 -c "import numpy; print(numpy.__version__.split(\".\")[0])")" -ge 2 ]; then
    echo "the system numpy is 2.x: a numpy 2 in the venv shares its ABI, nothing to control for"; exit 0
fi
/opt/edgecam/venv/bin/python -m pip install --quiet --only-binary=:all: --target /tmp/numpy2 "numpy>=2"
if PYTHONPATH=/tmp/numpy2 /opt/edgecam/venv/bin/python -c "import camera_standin" 2>/tmp/err; then
    echo "the stand-in imported under numpy 2: it would not catch the clash"; exit 1
fi
echo "as expected: $(grep -v "^ " /tmp/err | grep -iE "error|numpy" | tail -n 1)"'

step "edgecam detect with both seed models (EDGECAM_MODEL_DIR=/shared/models), from outside the source tree"
inroot 'cd /tmp && /opt/edgecam/venv/bin/python -c "import ncnn; print(\"ncnn\", ncnn.__version__, \"cpu_support_arm_asimdhp =\", ncnn.cpu_support_arm_asimdhp())"
cat >/tmp/expect.py <<PY
import json, sys
r = json.load(sys.stdin)
print(sys.argv[1], r["width"], "x", r["height"], ", ".join(d["label"] + " " + format(d["score"], ".2f") for d in r["detections"]))
sys.exit(0 if {"person", "horse"} <= {d["label"] for d in r["detections"]} else "expected a person and a horse")
PY
for m in yolov5ss yolov5ss-int8; do
    EDGECAM_MODEL_DIR=/shared/models /opt/edgecam/venv/bin/edgecam detect --model $m --size 640 --threads 4 /images/horse.jpg \
        | /opt/edgecam/venv/bin/python /tmp/expect.py $m
done'

# the check ⇒ run corpus needs a running mosquitto (not in this root); make test runs it
step "detector, YUV conversion, tracking and config tests against the installed package (python -P: not the source tree)"
inroot '/opt/edgecam/venv/bin/python -m pip install --quiet --constraint /opt/edgecam/pip-constraints.txt pytest hypothesis
cd /src && EDGECAM_MODEL_DIR=/shared/models OMP_WAIT_POLICY=PASSIVE /opt/edgecam/venv/bin/python -P -m pytest -q -p no:cacheprovider \
    tests/detectors tests/sources/test_yuv.py tests/tracking tests/config \
    --ignore=tests/config/test_check_implies_run.py 2>&1 | tail -n 15
/opt/edgecam/venv/bin/python -P -c "import edgecam; print(\"tests used edgecam from\", edgecam.__file__)"'

step "pi-check passed: Debian $suite arm64, QEMU_CPU=$cpu"
