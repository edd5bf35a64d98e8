// Package datasettest finds the labelled datasets (shared/datasets beside the repository) for
// tests and loads the shipped rules with their reference data, the same way in every package
// that measures against them.
package datasettest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// Dir returns ../shared/datasets relative to the module root. When the datasets are absent the
// test is skipped, except in CI (CI=true), where they are always laid beside the clone and their
// absence fails the test.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	ds := filepath.Join(dir, "..", "shared", "datasets")
	if _, err := os.Stat(filepath.Join(ds, "febrl", "dataset4a.csv")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the labelled datasets are missing from %s (CI must have them): %v", ds, err)
		}
		t.Skipf("the labelled datasets are not at %s: skipping", ds)
	}
	return ds
}

// ShippedRules parses configs/rules.yaml as shipped, with the datasets' nicknames and company
// suffixes (and no other default files).
func ShippedRules(t testing.TB, ds string) *rules.Set {
	t.Helper()
	lex, err := matcher.LoadLexicon(matcher.LexiconFiles{
		Nicknames:       filepath.Join(ds, "nicknames", "names.csv"),
		CompanySuffixes: filepath.Join(ds, "company_suffixes", "fingerprints_types.yml"),
		NoDefaultFiles:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Parse(configs.DefaultRules, "configs/rules.yaml", lex)
	if err != nil {
		t.Fatal(err)
	}
	return set
}
