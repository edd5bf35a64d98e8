// Package checkapi serves the check API: POST /api/v1/check and POST /api/v1/check/batch ask
// the same rules engine the webhook uses whether a record would be a duplicate, before it is
// saved, for the form script, Power Automate flows and integrations. It authenticates callers
// (Microsoft Entra ID bearer tokens or API keys), answers browsers only from configured
// origins (CORS), hides the details of matches a caller may not read in Dataverse, and offers
// an "Ignore and Save" override token when the caller is allowed one (package override).
package checkapi
