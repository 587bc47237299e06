#!/usr/bin/env bash
# Create .venv and install projects_gaff with every dependency pinned.
#
# Idempotent: a stamp records the hash of this script and setup.cfg; when neither
# changed since the last successful install it returns in well under a second.
# Detectron2 comes from the repackaged `sal-detectron2` wheel (README, "Set up, test, try"):
# fetched once, checked against its published sha256, renamed to a py3 tag.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMP=$VENV/.install-stamp
D2_VERSION=0.7.2
D2_SHA256=491af0c7f79bdb2d178e46f6cb16a97c4ac968d45c41ea3f6b6435d59bbee561
WHEELS=$VENV/wheels

want=$(cat tools/install.sh setup.cfg | sha256sum | cut -d' ' -f1)
if [[ -f $STAMP && $(cat "$STAMP") == "$want" ]]; then
    echo "projects_gaff: $VENV is up to date (delete $STAMP to force a reinstall)"
    exit 0
fi

[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
# This machine's pip config names local mirrors that may be absent; hide only that noise.
pip() {
    "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

pip install "setuptools==80.9.0" wheel
pip install "torch==2.14.1" "torchvision==0.29.1"

d2_wheel=$WHEELS/sal_detectron2-$D2_VERSION-py3-none-any.whl
if [[ ! -f $d2_wheel ]]; then
    mkdir -p "$WHEELS/download"
    pip download --no-deps --only-binary=:all: --python-version 3.10 \
        -d "$WHEELS/download" "sal-detectron2==$D2_VERSION"
    fetched=$WHEELS/download/sal_detectron2-$D2_VERSION-cp310-none-any.whl
    got=$(sha256sum "$fetched" | cut -d' ' -f1)
    if [[ $got != "$D2_SHA256" ]]; then
        echo "error: $fetched has sha256 $got, expected $D2_SHA256;" \
             "delete $WHEELS and rerun, or check your package index" >&2
        exit 1
    fi
    mv "$fetched" "$d2_wheel"
fi
pip install "$d2_wheel" -e ".[test]"

echo "$want" > "$STAMP"
echo "projects_gaff: installed into $VENV ($("$VENV/bin/python" -c 'import torch, detectron2; print("torch", torch.__version__, "detectron2", detectron2.__version__)'))"
