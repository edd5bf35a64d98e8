// Package index holds the candidate index: blocking key → record ids, a compact cached copy of
// the attributes the rules score, per-record bookkeeping of the keys a record is filed under,
// and strong-key reservations against concurrent creates. Memory is the in-process form used by
// the sandbox, scan and single-instance deployments; redisindex is the shared, durable form.
// Both implement rules.Index, Writer, BatchWriter, Settler, Watermarks and Enumerator and pass
// the same test suite (indextest).
//
// File and Commit turn a committed row into an index entry under the current rule set; the
// indexsync package loads whole tables and keeps them fresh by modifiedon watermark.
package index
