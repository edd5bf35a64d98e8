// Package emulator is an in-memory Microsoft Dataverse Web API v9.2 with the plugin pipeline
// for webhook steps, built from what Microsoft documents (../shared/reference/dataverse-facts.md)
// so that dedupegate's client, registration and gateway can be tested end to end without a
// real environment, and so that `dedupegate sandbox` can show a newcomer a duplicate blocked.
//
// It serves /api/data/v9.2/ as an http.Handler: contacts, accounts, leads and any configured
// table; the registration tables (serviceendpoints, sdkmessages, sdkmessagefilters,
// sdkmessageprocessingsteps, sdkmessageprocessingstepimages), asyncoperations, systemusers,
// EntityDefinitions (entity set names, keys, lookup columns) and WhoAmI. Creates answer 204
// with OData-EntityId (201 with Prefer: return=representation); retrieve, PATCH (update, or
// upsert without If-Match), DELETE; the query subset $select $filter $orderby $top $count with
// paging by Prefer: odata.maxpagesize and @odata.nextLink/$skiptoken; $skip, $search and
// $format are refused as Dataverse refuses them. Bearer tokens are checked; 429 with
// Retry-After and other failures can be injected (Throttle, Fail).
//
// A write runs the registered steps as Dataverse does: synchronous PreValidation (10) and
// PreOperation (20) webhooks before the write, where any non-2xx answer aborts the operation
// (502/503/504 are retried exactly once); the write; synchronous PostOperation (40) steps,
// whose failure rolls the write back; then, after the response, asynchronous PostOperation
// steps with their pre- and post-images. Payloads are real RemoteExecutionContext JSON
// (dataverse.EncodeContext), sent with the endpoint's authentication (HttpHeader, WebhookKey,
// HttpQueryString) and the documented x-ms-dynamics-* headers, stripped and flagged above
// 256 KB. Concurrent writes run their pipelines concurrently: no lock is held while a webhook
// is called. WaitIdle waits for the asynchronous jobs (tests).
//
// Every behaviour no Microsoft source confirms is marked UNCONFIRMED where it is implemented
// and listed in docs/dataverse.md, with the emulator's own limits.
package emulator
