//go:build !linux

package redistest

import (
	"os/exec"
	"syscall"
)

// sysProcAttr has no parent-death signal outside Linux: servers are killed by t.Cleanup and,
// for the shared ones, may outlive a crashed test binary.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func spawn(cmd *exec.Cmd) error { return cmd.Start() }

func processAlive(pid int) bool { return true }
