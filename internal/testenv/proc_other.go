//go:build !unix

// This file is the fallback for systems without process groups: it signals only the process.
package testenv

import (
	"os"
	"os/exec"
)

func setProcessGroup(*exec.Cmd) {}

// signalGroup interrupts cmd's process, or kills it if kill is set.
func signalGroup(cmd *exec.Cmd, kill bool) {
	if kill {
		_ = cmd.Process.Kill()
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
}
