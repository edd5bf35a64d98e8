// Package webresources holds dedupegate's Dataverse web resources: dedupegate_form.js, the form
// script that checks a record as the user types and before it is saved, and offers "Ignore
// and Save" (docs/check-api.md). The Go code here is only its browser test: go test starts a
// gateway on loopback and drives headless Chromium through test/form.test.mjs.
package webresources
