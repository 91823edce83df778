#!/usr/bin/env bash
# Put Open-Router in the same run as LiteLLM, Portkey and the bare Quart pass-throughs
# (../shared/bench/anchors.sh): a policy routing gpt-4o-mini to the nginx mock, a fresh key, one
# gateway process pinned to one core by the harness.
#
#   bash bench/anchors.sh              # full run (~12 min)
#   QUICK=1 bash bench/anchors.sh      # smoke run
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED_BENCH:-$ROOT/../shared/bench}"
OR="${OPEN_ROUTER:-$ROOT/.venv/bin/open-router}"
WORK="${BENCH_WORK:-/tmp/open-router-bench}"
mkdir -p "$WORK/policies"
rm -f "$WORK/bench.db"
cat > "$WORK/policies/bench.policy" <<'POLICY'
provider upstream kind openai base_url "http://127.0.0.1:18080/v1" timeout 10s
model gpt-4o-mini = upstream/"gpt-4o-mini" price in 0.15 out 0.60 per 1M tier standard supports tools, json
default
  use gpt-4o-mini
POLICY
"$OR" check "$WORK/policies"
KEY="$("$OR" keys create --team bench --db "sqlite:///$WORK/bench.db" | tail -n 1)"
export OR_KEY="$KEY"
export OR_START_CMD="env OPEN_ROUTER_LOG_LEVEL=${OPEN_ROUTER_LOG_LEVEL:-warning} $OR serve --policies $WORK/policies --port 18010 --db sqlite:///$WORK/bench.db"
export OR_PROCS="hypercorn_1_worker_(uvloop)"
exec bash "$SHARED/anchors.sh"
