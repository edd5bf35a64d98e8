// Package configs holds dedupegate's shipped configuration files: the documented example
// gateway config (dedupegate.yaml), the default rules (rules.yaml, embedded in the binary so
// that serve runs without any file), the sandbox's seed data and the Grafana dashboard.
package configs

import _ "embed"

// DefaultRules is rules.yaml as shipped: the rules serve uses when no rules file is configured.
//
//go:embed rules.yaml
var DefaultRules []byte
