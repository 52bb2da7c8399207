package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
)

// collectorBin is the collector binary built once for the tests that run it as users do.
var collectorBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "collector-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err := clitest.Build(dir, "./cmd/collector")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	collectorBin = bins["collector"]
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBinary runs the built collector with args and stdin from the module root, returning
// stdout, stderr and the exit code.
func runBinary(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	res, err := clitest.Run(collectorBin, repoRoot(t), stdin, args...)
	if err != nil {
		t.Fatalf("running collector %v: %v", args, err)
	}
	return res.Stdout, res.Stderr, res.Code
}

// repoRoot is the module root, so tests can name shared fixtures as testdata/... like users do.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := clitest.ModuleRoot()
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
