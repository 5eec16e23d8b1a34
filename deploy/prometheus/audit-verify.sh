#!/usr/bin/env bash
# Verifies Granary's audit trail and writes the result for node_exporter's textfile collector
# (alert GranaryAuditVerifyFailing). Run it daily, e.g. from a systemd timer or cron:
#   0 3 * * *  granary  /usr/local/bin/audit-verify.sh /var/lib/granary /var/lib/node_exporter/textfile
# Usage: audit-verify.sh DATA_DIR TEXTFILE_DIR
set -uo pipefail
data_dir="${1:?data directory}"
out_dir="${2:?node_exporter textfile directory}"
ok=0
if granary audit verify --data-dir "$data_dir" >/dev/null; then ok=1; fi
tmp="$(mktemp "$out_dir/.granary_audit.XXXXXX")"
cat > "$tmp" <<METRICS
# HELP granary_audit_verify_ok 1 when the last granary audit verify found no problem.
# TYPE granary_audit_verify_ok gauge
granary_audit_verify_ok $ok
# HELP granary_audit_verify_last_run_timestamp_seconds When granary audit verify last ran.
# TYPE granary_audit_verify_last_run_timestamp_seconds gauge
granary_audit_verify_last_run_timestamp_seconds $(date +%s)
METRICS
chmod 0644 "$tmp"
mv "$tmp" "$out_dir/granary_audit.prom"
