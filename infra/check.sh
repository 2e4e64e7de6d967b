#!/usr/bin/env bash
# Static checks of the deployment templates: parse Terraform and Bicep, then scan both with
# checkov, offline, with zero failed checks allowed. Every unavoidable finding is suppressed
# inline in the template with its reason, and listed here on each run.
#
# The scanner lives in its own virtual environment, .scanvenv/ (gitignored), built from
# infra/requirements-check.txt and infra/requirements-hcl2.txt and rebuilt only when they (or
# the Python version) change. Building it needs PyPI once; the scan itself needs no network.
#
# Usage: infra/check.sh [TERRAFORM_DIR BICEP_DIR]   (default: infra/terraform infra/bicep)
#        infra/check.sh --prepare                   (only build .scanvenv/, e.g. for python-hcl2)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
prepare_only=false
if [[ "${1:-}" == "--prepare" ]]; then
    prepare_only=true
    shift
fi
terraform_dir="${1:-infra/terraform}"
bicep_dir="${2:-infra/bicep}"

python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
scan_venv="$repo/.scanvenv"
hcl2_dir="$scan_venv/python-hcl2"
stamp="$scan_venv/.built-from"

wanted_stamp() {
    {
        "$python" -c 'import sys; print(sys.version)'
        cat infra/requirements-check.txt infra/requirements-hcl2.txt
    } | sha256sum | cut -d' ' -f1
}

ensure_scan_venv() {
    local want
    want="$(wanted_stamp)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return
    fi
    echo "check.sh: building $scan_venv (once per requirements change)" >&2
    rm -rf "$scan_venv"
    "$python" -m venv "$scan_venv"
    "$scan_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r infra/requirements-check.txt 2> >(grep -v "^WARNING: Location" >&2)
    # Upstream python-hcl2 and checkov's fork both own the `hcl2` package: keep it apart.
    "$scan_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --target "$hcl2_dir" -r infra/requirements-hcl2.txt 2> >(grep -v "^WARNING: Location" >&2)
    echo "$want" > "$stamp"
}

# One builder at a time (pytest and a developer may run this together).
exec 9> "${TMPDIR:-/tmp}/scanvenv-$(echo "$repo" | sha256sum | cut -c1-12).lock"
flock 9
ensure_scan_venv
flock -u 9
if $prepare_only; then
    exit 0
fi

# Offline: no platform API key, no policy or guideline download, no update check.
unset BC_API_KEY PRISMA_API_URL BC_API_URL
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true
export CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
export ANSI_COLORS_DISABLED=1
export LOG_LEVEL=WARNING

status=0

echo "== parse"
PYTHONPATH="$hcl2_dir" "$scan_venv/bin/python" infra/checks/parse_templates.py terraform "$terraform_dir" || status=1
"$scan_venv/bin/python" infra/checks/parse_templates.py bicep "$bicep_dir" || status=1

report_dir="$(mktemp -d)"
trap 'rm -rf "$report_dir"' EXIT

# Both scans at once (two cores); checkov's own exit code is ignored: the summary decides, on
# failed checks and also on unparsed files, which checkov alone only logs.
for framework in terraform bicep; do
    folder="$terraform_dir"
    [[ $framework == bicep ]] && folder="$bicep_dir"
    "$scan_venv/bin/checkov" --directory "$folder" --framework "$framework" \
        --skip-download --output json > "$report_dir/$framework.json" 2> "$report_dir/$framework.log" &
done
wait
for framework in terraform bicep; do
    echo "== checkov $framework"
    if ! "$scan_venv/bin/python" infra/checks/summarize_scan.py "$report_dir/$framework.json" "$framework"; then
        status=1
        cat "$report_dir/$framework.log" >&2
    fi
done

if [[ $status -ne 0 ]]; then
    echo "check.sh: FAILED" >&2
else
    echo "check.sh: templates parse and scan clean"
fi
exit $status
