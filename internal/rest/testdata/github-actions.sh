#!/usr/bin/env bash
# The approval step of a GitHub Actions deployment job, as Ottr's
# integration guide has it, with curl only: create an approval for this run
# (key path deploy/<repo>/<run id>, actions Deploy and Cancel, 30 minutes),
# print its link, then poll the key until it reads "approved" or "rejected".
# Exits 0 to deploy, 1 when cancelled, 2 when nobody decided in time.
#
# In a workflow:
#   - name: Wait for approval
#     env:
#       OTTR_URL: https://ottr.example.com
#       OTTR_API_KEY: ${{ secrets.OTTR_API_KEY }}
#     run: ./github-actions.sh
set -euo pipefail

key_path="deploy/${GITHUB_REPOSITORY}/${GITHUB_RUN_ID}"
auth="Authorization: Bearer ${OTTR_API_KEY}"

# A re-run of the job (same run id and attempt) gets the same approval back.
created=$(curl -sS --fail-with-body -X POST "${OTTR_URL}/v1/approvals" \
  -H "$auth" -H 'Content-Type: application/json' \
  -H "Idempotency-Key: github-${GITHUB_RUN_ID}-${GITHUB_RUN_ATTEMPT:-1}" \
  -d @- <<JSON
{
  "key_path": "${key_path}",
  "ttl_seconds": 1800,
  "info": "Deploy ${GITHUB_REPOSITORY} at ${GITHUB_SHA:-HEAD} (run ${GITHUB_RUN_ID})",
  "actions": [
    {"key": "deploy", "value": "approved", "label": "Deploy", "style": "primary"},
    {"key": "cancel", "value": "rejected", "label": "Cancel", "style": "danger"}
  ]
}
JSON
)
url=$(printf '%s' "$created" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
echo "Approve or cancel the deployment: ${url}"

deadline=$((SECONDS + 1800))
while [ "$SECONDS" -lt "$deadline" ]; do
  value=$(curl -sS --fail-with-body "${OTTR_URL}/v1/key/${key_path}" -H "$auth")
  case "$value" in
    '"approved"') echo "Approved: deploying."; exit 0 ;;
    '"rejected"') echo "Cancelled."; exit 1 ;;
  esac
  sleep "${OTTR_POLL_SECONDS:-10}"
done
echo "No decision within 30 minutes." >&2
exit 2
