#!/bin/sh
# azd postdeploy hook: subscribe the app to the storage account's blob events. It runs after the code is deployed
# because the webhook URLs need the blob and Event Grid extensions' system keys, which the Functions host creates
# only when it has indexed the functions; eventgrid-subscriptions.bicep reads them itself (listKeys).
# Needs the Azure CLI (az login). Idempotent: a redeploy updates the same two subscriptions.
set -eu

: "${AZURE_RESOURCE_GROUP:?run through azd (azd up / azd deploy), which sets the environment}"

# The host writes its system keys a little after the deployment finishes: wait for both (names only, no values).
attempt=0
while :; do
  names=$(az functionapp keys list --subscription "$AZURE_SUBSCRIPTION_ID" --name "$AZURE_FUNCTION_APP_NAME" --resource-group "$AZURE_RESOURCE_GROUP" \
    --query 'keys(systemKeys || `{}`)' --output tsv 2>/dev/null || true)
  if echo "$names" | grep -qx blobs_extension && echo "$names" | grep -qx eventgrid_extension; then
    break
  fi
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "The app has no blobs_extension and eventgrid_extension system keys after 5 minutes: is the code deployed?" >&2
    exit 1
  fi
  sleep 10
done

az deployment group create \
  --subscription "$AZURE_SUBSCRIPTION_ID" \
  --name tributary-eventgrid-subscriptions \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --template-file "$(dirname "$0")/../eventgrid-subscriptions.bicep" \
  --parameters \
    functionAppName="$AZURE_FUNCTION_APP_NAME" \
    systemTopicName="$AZURE_EVENTGRID_SYSTEM_TOPIC_NAME" \
    storageAccountName="$AZURE_STORAGE_ACCOUNT_NAME" \
    incomingContainer="$TRIBUTARY_INCOMING_CONTAINER" \
    deadLetterContainer="$TRIBUTARY_EVENTGRID_DEADLETTER_CONTAINER" \
  --output none

echo "Event Grid: BlobCreated -> ingest, BlobDeleted -> blob_deleted (container $TRIBUTARY_INCOMING_CONTAINER)."
