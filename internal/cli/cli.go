// Package cli holds what fallbackwatch's commands share: repeatable flags, exit codes and the
// plumbing that lets a command be run and tested as a function of its arguments and streams.
package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes shared by every fallbackwatch command, following promtool.
const (
	ExitOK       = 0 // success, nothing to report
	ExitError    = 1 // the input could not be read or the command failed
	ExitUsage    = 2 // bad flags or arguments
	ExitFindings = 3 // the command ran and found problems (lint findings, violations)
)

// Env is what a command may touch: its arguments and standard streams.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Strings is a flag that may be repeated; each use appends one value.
type Strings []string

func (s *Strings) String() string { return strings.Join(*s, ",") }

// Set appends v.
func (s *Strings) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// NewFlagSet returns a flag set that reports errors instead of exiting and prints usage to w.
func NewFlagSet(name, usage string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args and returns ExitUsage (and false) when they are wrong; -h returns ExitOK.
func Parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	return 0, true
}
