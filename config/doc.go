// Package config is the gateway's configuration: one YAML file (configs/dedupegate.yaml is the
// documented example) decoded strictly, with secrets overridable from environment variables,
// defaults filled in, and a Validate step that reports every problem with its location.
package config
