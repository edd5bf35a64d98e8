package configs

import "embed"

// Sandbox holds the sandbox's gateway configuration (sandbox/dedupegate.yaml) and its seed rows
// (sandbox/seed/<entity set>.json, Web API JSON), embedded so that `dedupegate sandbox` runs
// from any folder.
//
//go:embed sandbox/dedupegate.yaml sandbox/seed/*.json
var Sandbox embed.FS
