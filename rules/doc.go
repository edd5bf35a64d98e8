// Package rules loads and validates dedupegate's duplicate rules and evaluates records against
// them. It is the one place that decides: every door (the Dataverse webhook, the check API, the
// import scan) calls Engine.Decide with a record and gets a Decision back.
package rules
