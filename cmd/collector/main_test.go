package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// collectorBin is the collector binary built once for the tests that run it as users do.
var collectorBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "collector-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	collectorBin = filepath.Join(dir, "collector")
	out, err := exec.Command("go", "build", "-o", collectorBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building collector: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBinary runs the built collector with args and stdin, returning stdout, stderr and the exit code.
func runBinary(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(collectorBin, args...)
	cmd.Dir = repoRoot(t)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("running collector %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// repoRoot is the module root, so tests can name shared fixtures as testdata/... like users do.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestUnknownCommand(t *testing.T) {
	_, stderr, code := runBinary(t, "", "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestNoArgsPrintsUsage(t *testing.T) {
	_, stderr, code := runBinary(t, "")
	if code != 2 || !strings.Contains(stderr, "replay") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
