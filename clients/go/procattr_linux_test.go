package vectron_test

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the server get SIGTERM if the test binary dies first (a panic, a
// timeout), so no server outlives its test.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
