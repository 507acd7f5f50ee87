package main

import (
	"os"
	"strings"
	"testing"
)

func TestPrivateBadInputIsRefusedBeforeAnythingHappens(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown backend mode", []string{"share", "private", "localhost:22", "--backend-mode", "ssh"}, `--backend-mode "ssh" is not one of`},
		{"proxy target not a URL", []string{"share", "private", "localhost:3000"}, "is not an http:// or https:// URL"},
		{"tcpTunnel target not host:port", []string{"share", "private", "localhost", "--backend-mode", "tcpTunnel"}, `target "localhost" is not a host:port address`},
		{"udpTunnel target with a URL", []string{"share", "private", "udp://localhost:53", "--backend-mode", "udpTunnel"}, "is not a host:port address"},
		{"tunnel port out of range", []string{"share", "private", "localhost:70000", "--backend-mode", "tcpTunnel"}, "is not a host:port address"},
		{"zero idle timeout", []string{"share", "private", "localhost:53", "--backend-mode", "udpTunnel", "--udp-idle-timeout", "0s"}, "must be positive"},
		{"share private before enable", []string{"share", "private", "localhost:22", "--backend-mode", "tcpTunnel"}, "not enabled"},
		{"bind without a port", []string{"access", "private", "tok", "--bind", "127.0.0.1"}, `--bind "127.0.0.1" is not a host:port address`},
		{"bind port not a number", []string{"access", "private", "tok", "--bind", "127.0.0.1:http"}, "is not a host:port address"},
		{"bind port out of range", []string{"access", "private", "tok", "--bind", "127.0.0.1:65536"}, "is not a host:port address"},
		{"access idle timeout negative", []string{"access", "private", "tok", "--udp-idle-timeout", "-1s"}, "must be positive"},
		{"access before enable", []string{"access", "private", "tok"}, "not enabled"},
		{"access without a token", []string{"access", "private"}, "accepts 1 arg"},
		{"unaccess before enable", []string{"unaccess", "tok"}, "not enabled"},
		{"grant without an email", []string{"grant", "tok"}, "accepts 2 arg"},
		{"grant before enable", []string{"grant", "tok", "b@example.com"}, "not enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, append(tt.args, "--home", home)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (output %q), want one containing %q", err, out, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("refused commands wrote %d files to the home directory", len(entries))
	}
}
