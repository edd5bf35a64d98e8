#!/usr/bin/env bash
# Register dedupegate's webhook endpoint and steps in a Dataverse environment: the admin's
# one-line entry point. It reads environment variables and calls `dedupegate register`
# (or status / unregister). Nothing secret is passed on the command line.
#
#   DEDUPEGATE_CONFIG            gateway config file (required): its dataverse section says where
#                                and how to authenticate, its webhook section which secret to set
#   DEDUPEGATE_WEBHOOK_URL       the gateway's webhook URL as Dataverse reaches it (required for
#                                register and status), e.g. https://dedupe.contoso.com/webhooks/dataverse
#   DEDUPEGATE_WEBHOOK_SECRET    the webhook secret (overrides the config; recommended)
#   DEDUPEGATE_DATAVERSE_CLIENT_SECRET
#                                the app registration's client secret (client_secret auth)
#   DEDUPEGATE_REGISTRATION_PREFIX
#                                name prefix of what is registered (default: dedupegate)
#   ACTION                       register (default), status or unregister
#   DRY_RUN                      1 to print the plan and change nothing
#   DEDUPEGATE_BIN               the dedupegate binary (default: dedupegate on PATH, else
#                                `go run ./cmd/dedupegate` from the repository)
#
# Examples:
#   DEDUPEGATE_CONFIG=/etc/dedupegate.yaml DEDUPEGATE_WEBHOOK_URL=https://dg.contoso.com/webhooks/dataverse \
#     DRY_RUN=1 scripts/register-steps.sh
#   ACTION=status DEDUPEGATE_CONFIG=... DEDUPEGATE_WEBHOOK_URL=... scripts/register-steps.sh
set -euo pipefail

action="${ACTION:-register}"
case "$action" in
  register|status|unregister) ;;
  *) echo "register-steps.sh: ACTION must be register, status or unregister (got '$action')" >&2; exit 2 ;;
esac

: "${DEDUPEGATE_CONFIG:?set DEDUPEGATE_CONFIG to the gateway config file}"
if [ "$action" != unregister ]; then
  : "${DEDUPEGATE_WEBHOOK_URL:?set DEDUPEGATE_WEBHOOK_URL to the gateway webhook URL}"
fi

args=(--config "$DEDUPEGATE_CONFIG")
if [ "$action" != unregister ]; then
  args+=(--webhook-url "$DEDUPEGATE_WEBHOOK_URL")
fi
if [ -n "${DEDUPEGATE_REGISTRATION_PREFIX:-}" ]; then
  args+=(--prefix "$DEDUPEGATE_REGISTRATION_PREFIX")
fi
if [ "${DRY_RUN:-0}" = 1 ] && [ "$action" != status ]; then
  args+=(--dry-run)
fi

if [ -n "${DEDUPEGATE_BIN:-}" ]; then
  exec "$DEDUPEGATE_BIN" "$action" "${args[@]}"
elif command -v dedupegate >/dev/null 2>&1; then
  exec dedupegate "$action" "${args[@]}"
else
  cd "$(dirname "$0")/.."
  exec go run ./cmd/dedupegate "$action" "${args[@]}"
fi
