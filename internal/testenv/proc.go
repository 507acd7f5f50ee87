package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Proc is a child process of a test or a benchmark, such as a Caddy
// frontend or a controller, with its output in a log file.
type Proc struct {
	Name string
	Log  string   // stdout and stderr, appended across restarts
	Args []string // the command and its arguments
	Env  []string // added to this process's environment

	cmd  *exec.Cmd
	done chan struct{}
}

// StartProc runs args with env as dir/name, logging to dir/name.log.
func StartProc(dir, name string, env []string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, Log: dir + "/" + name + ".log", Args: args, Env: env}
	return p, p.Start()
}

// Start runs the process.
func (p *Proc) Start() error {
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	p.done = make(chan struct{})
	p.cmd = exec.Command(p.Args[0], p.Args[1:]...)
	p.cmd.Env = append(os.Environ(), p.Env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		close(p.done)
		return fmt.Errorf("starting %s: %w", p.Name, err)
	}
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()
	return nil
}

// Pid is the running process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Alive reports whether the process is running.
func (p *Proc) Alive() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill ends the process at once, as a crash would.
func (p *Proc) Kill() {
	if p.Alive() {
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Stop sends SIGTERM, and SIGKILL if the process is still there after 10 s.
func (p *Proc) Stop() {
	if !p.Alive() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// Restart stops the process and runs it again with the same arguments.
func (p *Proc) Restart() error {
	p.Stop()
	return p.Start()
}

// LogTail is the end of the process's log, for error messages.
func (p *Proc) LogTail() string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// WaitLine waits until the log has a line starting with prefix and returns
// the rest of that line.
func (p *Proc) WaitLine(prefix string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(p.Log)
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				return rest, nil
			}
		}
		if !p.Alive() {
			return "", fmt.Errorf("%s exited:\n%s", p.Name, p.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("%s printed no %q within %s:\n%s", p.Name, prefix, d, p.LogTail())
}
