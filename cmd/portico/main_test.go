package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestBadInputIsRefusedBeforeAnythingHappens(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"share target not a URL", []string{"share", "public", "localhost 3000", "--home", home}, "is not an http:// or https:// URL"},
		{"share target wrong scheme", []string{"share", "public", "ftp://localhost", "--home", home}, "is not an http:// or https:// URL"},
		{"share before enable", []string{"share", "public", "http://localhost:3000", "--home", home}, "not enabled"},
		{"ls before enable", []string{"ls", "--home", home}, "not enabled"},
		{"enable without api", []string{"enable", "tok", "--home", home, "--api", ""}, "--api is required"},
		{"admin without token", []string{"admin", "ls", "frontends", "--api", "http://127.0.0.1:1", "--admin-token", ""}, "--admin-token"},
		{"frontend without identity file", []string{"admin", "create", "frontend", "--api", "http://127.0.0.1:1", "--admin-token", "x"}, "--identity-out is required"},
		{"controller unreachable", []string{"admin", "ls", "namespaces", "--api", "http://127.0.0.1:1", "--admin-token", "x"}, "calling the controller at http://127.0.0.1:1"},
		{"missing argument", []string{"share", "public", "--home", home}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (output %q), want one containing %q", err, out, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("refused commands wrote %d files to the home directory", len(entries))
	}
}

func TestEnableRefusesToOverwrite(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "environment.json"), []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, "enable", "tok", "--home", home, "--api", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "already enabled") {
		t.Fatalf("err = %v, want 'already enabled'", err)
	}
}

func TestHelpExplains(t *testing.T) {
	out, err := run(t, "share", "public", "--help")
	if err != nil || !strings.Contains(out, "Ctrl-C or SIGTERM deletes it") || !strings.Contains(out, "--insecure") {
		t.Fatalf("help = %q, %v", out, err)
	}
}
