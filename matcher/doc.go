// Package matcher is dedupegate's pure matching computation: normalisers, blocking keys,
// attribute comparators, scores and human explanations. It does no I/O; the rules package
// feeds it records and candidates and turns its results into decisions.
package matcher
