//go:build !unix

package actions

import "os"

// lockFile is a no-op where flock does not exist: concurrent review commands on such systems
// may lose one of two simultaneous dismissals (the file stays well-formed: writes are atomic
// renames).
func lockFile(f *os.File) (func(), error) { return func() {}, nil }
