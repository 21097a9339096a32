#!/bin/sh
# The production environment, built from scratch: what the Dockerfile runs, and what
# tests/test_deployment.py runs into a temporary directory to prove it works.
#
#   deploy/build-env.sh VENV            (from the repository root)
#
# Run-time dependencies only (requirements.txt: no test tools, no embedded Redis),
# as wheels only: the image needs no compiler, and a dependency that loses its wheel
# for this Python fails the build here instead of compiling by surprise.
set -eu
venv=${1:?usage: deploy/build-env.sh VENV}
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --only-binary=:all: -r requirements.txt
"$venv/bin/python" -m pip check
