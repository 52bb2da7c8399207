// Package clitest runs fallbackwatch's commands in tests the way users run them: as built
// binaries, from the module root, with their exit codes. It is for tests only.
package clitest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ModuleRoot returns the directory holding go.mod, searching upwards from the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("clitest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build compiles the commands named by their package paths relative to the module root
// ("./cmd/collector") into dir and returns each binary's path by command name.
func Build(dir string, pkgs ...string) (map[string]string, error) {
	return BuildWith(dir, nil, pkgs...)
}

// BuildWith is Build with more `go build` flags, such as -ldflags.
func BuildWith(dir string, flags []string, pkgs ...string) (map[string]string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	args := append(append([]string{"build", "-o", dir + string(filepath.Separator)}, flags...), pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	bins := map[string]string{}
	for _, p := range pkgs {
		name := filepath.Base(p)
		bins[name] = filepath.Join(dir, name)
	}
	return bins, nil
}

// Result is what a finished command left.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs bin with args in dir, feeding stdin, and waits for it. A non-zero exit is a Result,
// not an error; the error is for a command that could not be run at all.
func Run(bin, dir, stdin string, args ...string) (Result, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		res.Code = exitErr.ExitCode()
		return res, nil
	}
	return res, err
}

// FreeAddr returns a 127.0.0.1 address whose port nothing listens on right now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// Buffer collects a running process's output; it is safe to read while the process writes.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// Get returns the status code and body of http://addr/path, or 0 and the error's text when the
// server does not answer.
func Get(addr, path string) (int, string) {
	resp, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
