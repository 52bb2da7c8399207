// Command collector turns istio-proxy access logs into fallback routing answers: Prometheus
// metrics from live logs (run), an incident report from a log file (replay), configuration
// findings (lint) and outage simulations (simulate).
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/fallbackwatch/fallbackwatch/internal/cli"
)

type command struct {
	summary string
	run     func(env cli.Env, args []string) int
}

func commands() map[string]command {
	return map[string]command{
		"run":      {"follow log files, stdin and Kafka and export Prometheus metrics", runRun},
		"replay":   {"read log files once and print a report of what fallback routing did", runReplay},
		"lint":     {"check VirtualServices and DestinationRules for fallback problems", runLint},
		"simulate": {"compute where each route's traffic is served when subsets go down", runSimulate},
	}
}

func main() {
	os.Exit(Main(cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:]))
}

// Main runs the collector with the given arguments and returns its exit code.
func Main(env cli.Env, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env, cmds)
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return cli.ExitOK
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "collector: unknown command %q\n", args[0])
		usage(env, cmds)
		return cli.ExitUsage
	}
	return c.run(env, args[1:])
}

func usage(env cli.Env, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(env.Stderr, "Usage: collector COMMAND [flags] [args]\n\nCommands:")
	for _, n := range names {
		fmt.Fprintf(env.Stderr, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(env.Stderr, "\nRun 'collector COMMAND -h' for a command's flags.")
}
