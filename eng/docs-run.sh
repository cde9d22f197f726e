#!/usr/bin/env bash
# Runs the shell examples of Markdown pages as a reader would paste them, against a real service:
#   bash eng/docs-run.sh README.md docs/tasks.md ...
# Every ```bash block of a page runs, in order, in one shell per page (so a variable one block sets is there for the
# next, as in the reader's terminal), with `set -euo pipefail`, in a new empty directory. A block is left out only when
# the line before its fence says why:
#   <!-- docs-run: skip (installs a system service) -->
# Blocks fenced as ```text, ```console, ```json or ```yaml are output or configuration, never run.
# What the pages take from the reader comes from the environment: ORCHESTRATOR_URL, ORCHESTRATOR_API_KEY and
# ORCHESTRATOR_CA_FILE (the one set of variables every page uses), `orchestrator` and `orchestrator-agent` on PATH, and
# the inputs a page names (CI_PIPELINE_ID, IMAGE, TAG, REGISTRY_USER, REGISTRY_TOKEN). The test DocsThatRunTests starts
# the service, an engine and these; it runs this script once per page.
# A page passes when its shell exits 0. Background processes a page starts (an agent) are stopped by PID at its end.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: docs-run.sh PAGE.md..." >&2; exit 64; }
root=$(cd "$(dirname "$0")/.." && pwd)
status=0

extract() {
  # Prints a bash script: one block after another, each announced by its page and line.
  awk -v page="$1" '
    /^<!-- docs-run: skip/ {
      if ($0 !~ /skip \(.+\)/) { printf "docs-run: %s:%d: a skip needs a reason in parentheses\n", page, FNR > "/dev/stderr"; bad = 1 }
      skip = 1; next
    }
    /^```/ && !inblock {
      inblock = 1; lang = substr($0, 4)
      run = (lang == "bash" || lang == "sh" || lang == "shell") && !skip
      if (lang == "sh" || lang == "shell") { printf "docs-run: %s:%d: fence shell examples as ```bash\n", page, FNR > "/dev/stderr"; bad = 1 }
      if (run) printf "__docs_block %s:%d\n", page, FNR + 1
      else if ((lang == "bash") && skip) printf "__docs_skipped %s:%d\n", page, FNR + 1
      skip = 0; next
    }
    /^```/ && inblock { inblock = 0; run = 0; next }
    inblock && run { print; next }
    !inblock && NF { skip = 0 }
    END { exit bad }
  ' "$root/$1"
}

for page in "$@"; do
  script=$(mktemp)
  work=$(mktemp -d)
  {
    echo 'set -euo pipefail'
    # Each block's start is announced with the time the one before took, so a slow example shows.
    echo '__docs_took() { [ -n "${__docs_at:-}" ] && echo "    ($__docs_at took $((SECONDS - __docs_started)) s)" >&2 || true; }'
    echo '__docs_block() { __docs_took; echo "--- $1" >&2; echo "$1" > "$DOCS_RUN_AT"; __docs_at=$1; __docs_started=$SECONDS; }'
    echo '__docs_skipped() { echo "--- $1 (skipped: the page says why)" >&2; }'
    # Stop what the page started in the background (an agent), by the PIDs of this shell's own jobs.
    echo 'trap '"'"'__docs_took; for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true'"'"' EXIT'
    extract "$page"
  } > "$script" || { status=1; rm -rf "$script" "$work"; continue; }

  started=$(date +%s)
  if (cd "$work" && DOCS_RUN_AT="$work/.docs-run-at" timeout "${DOCS_RUN_TIMEOUT:-300}" bash "$script"); then
    echo "docs-run: $page ok ($(( $(date +%s) - started )) s)" >&2
  else
    code=$?
    echo "docs-run: $page FAILED (exit $code) in the block at $(cat "$work/.docs-run-at" 2>/dev/null || echo '?')" >&2
    status=1
  fi
  rm -rf "$script" "$work"
done
exit $status
