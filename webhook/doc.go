// Package webhook is the door Dataverse knocks on: POST /webhooks/dataverse, called by every
// registered step. It authenticates the call as the service endpoint specifies, decodes the
// RemoteExecutionContext, turns a synchronous pre-stage Create or Update into a rules.Request
// and the engine's decision into an HTTP status (allow 200, block 409; never 502/503/504, which
// Dataverse retries), and hands asynchronous PostOperation changes to the index upkeep. It knows
// Dataverse's wire format, auth and limits, and nothing about matching.
package webhook
