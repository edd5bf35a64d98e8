// Package scan is the import pre-check: it reads a CSV or JSON Lines file, maps its columns to
// Dataverse attributes, and checks every row with the webhook's rules and engine — against the
// CRM (the live index, or an exported file loaded in memory) and against the rows before it in
// the same file — then writes one verdict per row, the allowed rows as a clean file to import,
// and the flagged rows as a report to review. No row is dropped: each one gets a verdict and
// lands in exactly one of the clean file and the report.
package scan
