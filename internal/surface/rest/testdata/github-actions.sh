#!/usr/bin/env bash
# The approval step of a GitHub Actions deployment job, with curl only:
# create an approval for this run attempt (key path deploy/<repo>/<run id>,
# actions Deploy and Cancel, 30 minutes), print its link, then wait on the
# approval itself until it is decided, expires or is withdrawn.
# Exits 0 to deploy, 1 when cancelled, 2 when it expired, was withdrawn or
# locked.
#
# It waits on the approval, not on the key: a re-run of the job keeps the
# run id, and so the key, which still holds the previous attempt's
# decision; and a key never says that its approval expired.
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

# A retry of this request within the attempt gets the same approval back;
# a re-run of the job (a new attempt) asks again. initial_value clears the
# previous attempt's decision from the key for whoever reads it.
created=$(curl -sS --fail-with-body -X POST "${OTTR_URL}/v1/approvals" \
  -H "$auth" -H 'Content-Type: application/json' \
  -H "Idempotency-Key: github-${GITHUB_RUN_ID}-${GITHUB_RUN_ATTEMPT:-1}" \
  -d @- <<JSON
{
  "key_path": "${key_path}",
  "ttl_seconds": 1800,
  "initial_value": "waiting",
  "info": "Deploy ${GITHUB_REPOSITORY} at ${GITHUB_SHA:-HEAD} (run ${GITHUB_RUN_ID}, attempt ${GITHUB_RUN_ATTEMPT:-1})",
  "actions": [
    {"key": "deploy", "value": "approved", "label": "Deploy", "style": "primary"},
    {"key": "cancel", "value": "rejected", "label": "Cancel", "style": "danger"}
  ]
}
JSON
)
id=$(printf '%s' "$created" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
url=$(printf '%s' "$created" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
echo "Approve or cancel the deployment: ${url}"

# Each request waits up to a minute and answers as soon as the approval
# has a final status; an expired approval reads "expired".
while :; do
  approval=$(curl -sS --fail-with-body --retry 5 --retry-all-errors \
    "${OTTR_URL}/v1/approvals/${id}?wait=${OTTR_WAIT_SECONDS:-60}" -H "$auth")
  status=$(printf '%s' "$approval" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
  case "$status" in
    pending) continue ;;
    executed)
      action=$(printf '%s' "$approval" | sed -n 's/.*"executed_action":{"key":"\([^"]*\)".*/\1/p')
      if [ "$action" = deploy ]; then echo "Approved: deploying."; exit 0; fi
      echo "Cancelled."; exit 1 ;;
    *) echo "No deployment: the approval is ${status}." >&2; exit 2 ;;
  esac
done
