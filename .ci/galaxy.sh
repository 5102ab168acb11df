#!/usr/bin/env bash
# Lint the Galaxy tool in galaxy/ and run its tests in a real Galaxy server.
#
#   bash .ci/galaxy.sh            (from the repository root; ../shared beside it)
#
# 1. a venv with Galaxy 26.1.2 (galaxy-web-apps, from PyPI) and planemo, reused
#    across runs while the pins are unchanged;
# 2. planemo lint + shed_lint of the tool, failing on any warning;
# 3. a Galaxy server on 127.0.0.1 (free port, fresh sqlite database), an admin
#    user and API key;
# 4. this working tree (uncommitted edits included) built as a wheel and
#    installed into the venv that the tool's
#    <requirement type="package" version="X">tis-transformer</requirement>
#    resolves to (galaxy_packages resolver: DEPS/tis-transformer/X);
# 5. galaxy-tool-test on the tool's <tests>, then a line "N passed, M failed".
# The server this script started is stopped on exit. Exit status is non-zero
# when the lint warns or a test does not pass.
#
# Environment: GALAXY_CI_DIR (default /tmp/galaxy-ci) holds the venvs, the
# server's files and the results; PYTHON (default python3) builds the venvs;
# GALAXY_CONSTRAINTS overrides the pip constraints file.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOL_DIR="$ROOT/galaxy"
TOOL_XML="$TOOL_DIR/tis_transformer.xml"
TOOL_ID=tis_transformer
PACKAGE=tis-transformer
CI_DIR=${GALAXY_CI_DIR:-/tmp/galaxy-ci}
PYTHON=${PYTHON:-python3}
CONSTRAINTS=${GALAXY_CONSTRAINTS:-$ROOT/../shared/notes/galaxy-26.1.2-constraints.txt}
GALAXY_PINS="galaxy-web-apps==26.1.2 bioblend==1.9.0 planemo==0.75.47"
VENV="$CI_DIR/venv"
DEPS="$CI_DIR/deps"
SERVER="$CI_DIR/server"
RESULTS="$CI_DIR/results"
ADMIN_EMAIL=admin@example.org
# CI-only secrets for a server that listens on 127.0.0.1 and lives for one run.
BOOTSTRAP_KEY="ci-bootstrap-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
ID_SECRET="ci-id-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

START=$(date +%s)
SERVER_PID=""

log() { printf '[galaxy-ci %4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        log "stopping the Galaxy server (pid $SERVER_PID)"
        # The server was started in its own session: its process group is its
        # pid, and holds only it and the jobs it spawned.
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 30); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 1
        done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

[[ -f "$TOOL_XML" ]] || die "no tool at $TOOL_XML"
[[ -f "$CONSTRAINTS" ]] || die "no constraints file at $CONSTRAINTS"
command -v curl >/dev/null || die "curl is needed"
mkdir -p "$CI_DIR"

# The tool version token must be the package version.
PKG_VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/tis_transformer/__init__.py")
TOOL_VERSION=$(sed -n 's:.*<token name="@TOOL_VERSION@">\(.*\)</token>.*:\1:p' "$TOOL_DIR/macros.xml")
[[ -n "$PKG_VERSION" ]] || die "cannot read __version__ from tis_transformer/__init__.py"
[[ "$PKG_VERSION" == "$TOOL_VERSION" ]] ||
    die "galaxy/macros.xml @TOOL_VERSION@ is '$TOOL_VERSION' but the package is $PKG_VERSION"

# ------------------------------------------------------------ 1. Galaxy venv
STAMP="$VENV/.ci-stamp"
WANT_STAMP="$($PYTHON --version 2>&1) $GALAXY_PINS $(sha256sum "$CONSTRAINTS" | cut -c1-16)"
if [[ -x "$VENV/bin/galaxy-web" && -x "$VENV/bin/planemo" && "$(cat "$STAMP" 2>/dev/null)" == "$WANT_STAMP" ]]; then
    log "reusing the Galaxy venv $VENV"
else
    log "installing Galaxy 26.1.2 and planemo into $VENV (about 2 minutes)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    {
        "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
        # shellcheck disable=SC2086
        "$VENV/bin/pip" install -q --disable-pip-version-check $GALAXY_PINS -c "$CONSTRAINTS"
    } > "$CI_DIR/pip-galaxy.log" 2>&1 || { tail -n 40 "$CI_DIR/pip-galaxy.log" >&2; die "pip could not install Galaxy"; }
    echo "$WANT_STAMP" > "$STAMP"
fi

# ------------------------------------------------------------------- 2. lint
log "planemo lint"
LINT_LOG="$CI_DIR/lint.log"
set +e
(
    cd "$ROOT"
    "$VENV/bin/planemo" lint --report_level all --fail_level warn "$TOOL_XML" &&
    # shed_lint compares remote_repository_url (.../tree/main/galaxy) with the
    # last directories of the path it lints, and a clone may sit in any folder:
    # lint a copy at .../main/galaxy. version_bumped asks the Tool Shed online.
    rm -rf "$CI_DIR/shed_lint" && mkdir -p "$CI_DIR/shed_lint/main" &&
    cp -r "$TOOL_DIR" "$CI_DIR/shed_lint/main/galaxy" &&
    "$VENV/bin/planemo" shed_lint --tools --ensure_metadata --report_level all --fail_level warn \
        --skip version_bumped "$CI_DIR/shed_lint/main/galaxy"
) > "$LINT_LOG" 2>&1
LINT_RC=$?
set -e
cat "$LINT_LOG"
if [[ $LINT_RC -ne 0 ]] || grep -qE '^\.\. (WARNING|ERROR)' "$LINT_LOG"; then
    die "planemo lint reported warnings or errors (exit $LINT_RC)"
fi
log "lint clean"

# ------------------------------------------------- 3. tool dependency venv
# The package is built from a fresh copy of the working tree (tracked files and
# untracked ones git does not ignore, uncommitted edits included), never from
# the checkout itself: setuptools would reuse the checkout's build/, which can
# hold modules of an older tree. The version stays the same from commit to
# commit, so the wheel is force-reinstalled, and the installed package is then
# compared file by file with the working tree.
DEP_VENV="$DEPS/$PACKAGE/$PKG_VERSION"
STAGE="$CI_DIR/package-src"
WHEELS="$CI_DIR/package-wheel"
log "installing the working tree of $ROOT into $DEP_VENV"
rm -rf "$STAGE" "$WHEELS"
mkdir -p "$STAGE" "$WHEELS"
if git -C "$ROOT" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' file; do
            # a tracked file deleted in the working tree is not part of it
            if [[ -f "$ROOT/$file" ]]; then printf '%s\0' "$file"; fi
        done |
        tar -C "$ROOT" --null -T - -cf - | tar -C "$STAGE" -xf -
else
    tar -C "$ROOT" --exclude=./.git --exclude=./build --exclude=./dist --exclude='*.egg-info' \
        --exclude=__pycache__ -cf - . | tar -C "$STAGE" -xf -
fi
PIP_LOG="$CI_DIR/pip-tool-deps.log"
{
    if [[ ! -x "$DEP_VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$DEP_VENV"
        "$DEP_VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
    fi
    "$DEP_VENV/bin/pip" wheel -q --disable-pip-version-check --no-deps -w "$WHEELS" "$STAGE"
    WHEEL=$(ls "$WHEELS"/*.whl)
    # numpy, onnxruntime and biopython come along (never torch); then the
    # package itself replaces whatever release of the same version was there.
    "$DEP_VENV/bin/pip" install -q --disable-pip-version-check "$WHEEL"
    "$DEP_VENV/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$WHEEL"
} > "$PIP_LOG" 2>&1 || { cat "$PIP_LOG" >&2; die "pip could not install $ROOT into $DEP_VENV"; }
# -I: the current directory (maybe this checkout) must not shadow the install.
"$DEP_VENV/bin/python" -I - "$STAGE/tis_transformer" <<'EOF' || die "the package in $DEP_VENV is not this working tree"
import filecmp
import sys
from pathlib import Path

import tis_transformer

source = Path(sys.argv[1])
installed = Path(tis_transformer.__file__).parent


def files(root):
    # the modules and the shipped models with their metadata
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".onnx", ".json")}


want, have = files(source), files(installed)
problems = [f"missing {name}" for name in sorted(want - have)]
problems += [f"stale {name}" for name in sorted(have - want)]
problems += [f"differs {name}" for name in sorted(want & have)
             if not filecmp.cmp(source / name, installed / name, shallow=False)]
for problem in problems:
    print(f"  {problem} ({installed})", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"installed package matches the working tree ({len(want)} files)")
EOF
if "$DEP_VENV/bin/python" -I -c "import torch" 2>/dev/null; then
    die "torch is installed in the tool's venv; the predictor must not need it"
fi
"$DEP_VENV/bin/tis-transformer" --version

# ------------------------------------------------------ 4. Galaxy server
rm -rf "$SERVER" "$RESULTS"
mkdir -p "$SERVER" "$RESULTS"
PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"

cat > "$SERVER/tool_conf.xml" <<EOF
<?xml version="1.0"?>
<toolbox monitor="false">
    <section id="ci" name="CI">
        <tool file="$TOOL_XML"/>
    </section>
</toolbox>
EOF
cat > "$SERVER/tool_data_table_conf.xml" <<EOF
<?xml version="1.0"?>
<tables>
</tables>
EOF
cat > "$SERVER/galaxy.yml" <<EOF
galaxy:
  data_dir: $SERVER/data
  database_connection: "sqlite:///$SERVER/universe.sqlite?isolation_level=IMMEDIATE"
  tool_config_file: $SERVER/tool_conf.xml
  tool_data_table_config_path: $SERVER/tool_data_table_conf.xml
  tool_dependency_dir: $DEPS
  dependency_resolvers:
    - type: galaxy_packages
  conda_auto_init: false
  conda_auto_install: false
  enable_mulled_containers: false
  involucro_auto_init: false
  admin_users: $ADMIN_EMAIL
  bootstrap_admin_api_key: $BOOTSTRAP_KEY
  id_secret: $ID_SECRET
  watch_tools: false
  enable_celery_tasks: false
  cleanup_job: onsuccess
  allow_user_creation: true
EOF

log "starting galaxy-web on $URL"
# setsid: the server leads its own process group, so stopping it also stops
# the jobs it runs and nothing else.
setsid "$VENV/bin/galaxy-web" -c "$SERVER/galaxy.yml" -b "127.0.0.1:$PORT" \
    > "$SERVER/galaxy.log" 2>&1 < /dev/null &
SERVER_PID=$!

for i in $(seq 1 240); do
    if curl -sf "$URL/api/version" > "$SERVER/version.json" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        tail -n 60 "$SERVER/galaxy.log" >&2
        SERVER_PID=""
        die "Galaxy exited while starting (log: $SERVER/galaxy.log)"
    fi
    if [[ $i -eq 240 ]]; then
        tail -n 60 "$SERVER/galaxy.log" >&2
        die "Galaxy did not answer on $URL within 240 s"
    fi
    sleep 1
done
log "Galaxy is up: $(cat "$SERVER/version.json")"

json_field() { "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

USER_ID=$(curl -sf -X POST "$URL/api/users" -H "x-api-key: $BOOTSTRAP_KEY" -H 'Content-Type: application/json' \
    -d "{\"username\": \"admin\", \"email\": \"$ADMIN_EMAIL\", \"password\": \"ci-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')\"}" |
    json_field id) || die "cannot create the admin user"
API_KEY=$(curl -sf -X POST "$URL/api/users/$USER_ID/api_key" -H "x-api-key: $BOOTSTRAP_KEY" |
    "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin))') || die "cannot create an API key"
curl -sf "$URL/api/tools/$TOOL_ID" -H "x-api-key: $API_KEY" > /dev/null ||
    die "Galaxy did not load the tool $TOOL_ID (see $SERVER/galaxy.log)"
log "admin user and API key ready; tool $TOOL_ID loaded"

# ------------------------------------------------------------- 5. tests
N_TESTS=$(grep -c '<test[ >]' "$TOOL_XML")
log "running the tool's $N_TESTS tests with galaxy-tool-test"
set +e
"$VENV/bin/galaxy-tool-test" -u "$URL" -k "$API_KEY" -a "$API_KEY" -t "$TOOL_ID" \
    --parallel-tests 2 -j "$RESULTS/results.json" -o "$RESULTS/outputs" > "$RESULTS/tool-test.log" 2>&1
TEST_RC=$?
set -e
grep -E 'tool tests \(|Total tool test time' "$RESULTS/tool-test.log" | sed 's/^.*\] //' || true

set +e
"$VENV/bin/python" - "$RESULTS/results.json" "$N_TESTS" <<'EOF'
import json
import sys

path, expected = sys.argv[1], int(sys.argv[2])
try:
    with open(path) as handle:
        report = json.load(handle)
except (OSError, ValueError) as error:
    print(f"no test report: {error}")
    print(f"0 passed, {expected} failed")
    sys.exit(1)
tests = report.get("tests", [])
statuses = [(t["id"], t.get("data", {}).get("status", "error"), t.get("data", {})) for t in tests]
passed = sum(status == "success" for _, status, _ in statuses)
total = max(report.get("results", {}).get("total", len(tests)), len(tests), expected)
for test_id, status, data in sorted(statuses):
    print(f"  {status:8s} {test_id}")
    if status != "success":
        for problem in data.get("output_problems") or []:
            print("           " + " ".join(str(problem).split())[:600])
        if data.get("execution_problem"):
            print("           " + " ".join(str(data["execution_problem"]).split())[:600])
        job = data.get("job") or {}
        for stream in ("stdout", "stderr"):
            text = (job.get(stream) or "").strip()
            if text:
                print(f"           job {stream}: " + " | ".join(text.splitlines()[-5:])[:600])
print(f"{passed} passed, {total - passed} failed")
sys.exit(0 if passed == total and total == expected else 1)
EOF
SUMMARY_RC=$?
set -e

stop_server
log "done in $(($(date +%s) - START)) s (galaxy-tool-test exit $TEST_RC; report $RESULTS/results.json)"
if [[ $TEST_RC -ne 0 || $SUMMARY_RC -ne 0 ]]; then
    echo "Galaxy tool tests FAILED (server log: $SERVER/galaxy.log, tool-test log: $RESULTS/tool-test.log)" >&2
    exit 1
fi
echo "Galaxy tool tests passed"
