package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// A secret on the command line is visible to every user of the machine in
// /proc/<pid>/cmdline and in `ps`. Every secret a command takes can come
// instead from the environment, a file, or standard input ("-").
const secretsHelp = `A secret given as an argument or flag value is visible to every user of this machine in
the process list; prefer the environment variable, the -file flag, or "-" for standard input.`

// readSecretFile reads a secret from path, or from standard input for "-",
// without the line break at its end.
func readSecretFile(cmd *cobra.Command, path string) (string, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("reading the secret: %w", err)
	}
	s := strings.TrimRight(string(raw), "\r\n")
	if s == "" {
		return "", fmt.Errorf("the secret in %s is empty", describe(path))
	}
	return s, nil
}

// readLines reads the non-empty lines of path, or of standard input for "-".
func readLines(cmd *cobra.Command, path string) ([]string, error) {
	var r io.Reader
	if path == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var lines []string
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), "\r"); strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(lines) == 0 {
		return nil, errors.New(describe(path) + " holds no line")
	}
	return lines, nil
}

func describe(path string) string {
	if path == "-" {
		return "standard input"
	}
	return path
}
