// Package index holds the candidate index: blocking key → record ids, a compact cached copy of
// the attributes the rules score, per-record bookkeeping of the keys a record is filed under,
// and strong-key reservations against concurrent creates. Memory is the in-process form used by
// the sandbox, scan and single-instance deployments; redisindex is the shared, durable form.
// Both implement rules.Index and Writer and pass the same test suite (indextest).
package index
