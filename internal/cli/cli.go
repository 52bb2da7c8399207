// Package cli holds what fallbackwatch's commands share: command-line parsing with flags in any
// position, repeatable flags, the routing namespace flags, exit codes, build version, quoting of
// input in messages, and the plumbing that lets a command be run and tested as a function of its
// arguments and streams.
package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"
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

// stdinArg stands for a lone "-" argument while kingpin parses: kingpin turns "-" into an empty
// string, and no command-line argument can hold a NUL byte, so the stand-in cannot collide with a
// real argument. Strings turns it back into "-".
const stdinArg = "\x00-"

// Strings is a flag or argument that may be repeated; each use appends one value. A lone "-"
// stays "-" (standard input).
type Strings []string

func (s *Strings) String() string { return strings.Join(*s, ",") }

// Set appends v.
func (s *Strings) Set(v string) error {
	if v == stdinArg {
		v = "-"
	}
	*s = append(*s, v)
	return nil
}

// IsCumulative tells kingpin that the value may be given more than once.
func (s *Strings) IsCumulative() bool { return true }

// exit is what the terminate function of an App panics with, so that help and --version end
// parsing without ending the process; Parse recovers it.
type exit struct{ code int }

// NewApp returns a command-line application that writes help and errors to env.Stderr, prints its
// version (Version) to env.Stdout on --version, takes -h for --help, and never exits the process.
// Flags are parsed wherever they stand among the arguments; "--" ends the flags.
func NewApp(name, help string, env Env) *kingpin.Application {
	app := kingpin.New(name, help)
	app.Writer(env.Stderr)
	app.ErrorWriter(env.Stderr)
	app.UsageWriter(env.Stderr)
	app.Terminate(func(code int) { panic(exit{code}) })
	app.HelpFlag.Short('h')
	app.Flag("version", "Show the version, revision, build date and Go version, then exit.").
		PreAction(func(*kingpin.ParseContext) error {
			fmt.Fprintln(env.Stdout, Version(name))
			panic(exit{ExitOK})
		}).Bool()
	return app
}

// Parse parses args for app and returns the selected command. When parsing ends the command —
// help, --version, or an error, which it prints with a pointer to --help — it returns false and
// the exit code: ExitOK for help and version, ExitUsage for errors.
func Parse(app *kingpin.Application, args []string) (cmd string, code int, ok bool) {
	bools := boolFlags(app)
	subst := make([]string, len(args))
	for i, a := range args {
		if a == "-" {
			a = stdinArg
		}
		// --name=false and --name=true, as Go's flag package takes them; kingpin only knows
		// --name and --no-name.
		if name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok && strings.HasPrefix(a, "--") && bools[name] {
			if b, err := strconv.ParseBool(val); err == nil {
				a = "--" + name
				if !b {
					a = "--no-" + name
				}
			}
		}
		subst[i] = a
	}
	defer func() {
		if r := recover(); r != nil {
			e, isExit := r.(exit)
			if !isExit {
				panic(r)
			}
			cmd, ok = "", false
			code = ExitOK
			if e.code != 0 {
				code = ExitUsage
			}
		}
	}()
	cmd, err := app.Parse(subst)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), stdinArg, "-")
		if name := failedFlag(app, subst, err); name != "" {
			msg = name + ": " + msg
		}
		return "", Usagef(app, "%s", msg), false
	}
	return cmd, 0, true
}

// boolFlags returns the names of the boolean flags of app and its commands.
func boolFlags(app *kingpin.Application) map[string]bool {
	out := map[string]bool{}
	m := app.Model()
	add := func(fs []*kingpin.FlagModel) {
		for _, f := range fs {
			if f.IsBoolFlag() {
				out[f.Name] = true
			}
		}
	}
	add(m.Flags)
	for _, c := range m.FlattenedCommands() {
		add(c.Flags)
	}
	return out
}

// failedFlag names the flag whose value err is about ("--name=value"), or returns "": kingpin
// reports a value that does not parse without the flag, and every value parser's message quotes
// the value.
func failedFlag(app *kingpin.Application, args []string, err error) string {
	ctx, perr := app.ParseContext(args)
	if perr != nil || ctx == nil {
		return ""
	}
	for _, el := range ctx.Elements {
		fc, ok := el.Clause.(*kingpin.FlagClause)
		if !ok || el.Value == nil || *el.Value == "" {
			continue
		}
		if strings.Contains(err.Error(), *el.Value) {
			return "--" + fc.Model().Name + "=" + *el.Value
		}
	}
	return ""
}

// Usagef prints "NAME: error: MESSAGE, try --help" to the application's error writer and returns
// ExitUsage, for arguments that parse but are wrong.
func Usagef(app *kingpin.Application, format string, args ...any) int {
	app.Errorf(format+", try --help", args...)
	return ExitUsage
}
