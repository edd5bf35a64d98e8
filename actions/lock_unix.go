//go:build unix

package actions

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on f (flock), released by the returned function
// or when f is closed.
func lockFile(f *os.File) (func(), error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
}
