package redistest

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// sysProcAttr makes the kernel kill the server when the thread that started it exits; spawn
// starts every server from one locked thread that lives as long as the test binary, so a
// test binary that exits or crashes never leaves a server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

var spawnCh = sync.OnceValue(func() chan spawnReq {
	ch := make(chan spawnReq)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives until the process exits
		for r := range ch {
			r.done <- r.cmd.Start()
		}
	}()
	return ch
})

func spawn(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	spawnCh() <- spawnReq{cmd: cmd, done: done}
	return <-done
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
