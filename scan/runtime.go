package scan

import (
	"os"
	"runtime/debug"
	"strconv"
)

// GCPercent is the garbage collector's target (GOGC) the scan command sets when GOGC is not
// set. A scan's heap is its indexes (the CRM's records and the file's rows, kept for the whole
// run) plus each row's short-lived garbage, so every collection marks the whole index again.
// While a row left kilobytes of garbage, collecting at 3× the live heap (200) paid: 165 → 132
// CPU-µs a row (BenchmarkScan1M, 200,000 rows against 1M records, 2026-11-27 09:14Z). Since
// prepared values, candidates and lookups reuse their storage, it no longer does: 1M rows
// against 1M records, interleaved (13:40Z), 100 gave 47,695 / 43,886 rows/s at 2.8 GiB and 200
// gave 44,419 / 46,487 rows/s at 3.5–3.7 GiB. So the runtime's default, said here on purpose.
const GCPercent = 100

// TuneRuntime sets GCPercent unless GOGC is set, and reports the target in force ("200", or
// GOGC's value). It changes process-wide state: call it from main (or a benchmark that
// measures what the command does), not from library code.
func TuneRuntime() string {
	if v, set := os.LookupEnv("GOGC"); set {
		return v
	}
	debug.SetGCPercent(GCPercent)
	return strconv.Itoa(GCPercent)
}
