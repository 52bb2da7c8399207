// Command collector turns istio-proxy access logs into fallback routing answers: Prometheus
// metrics from live logs (run), an incident report from a log file (replay), configuration
// findings (lint) and outage simulations (simulate).
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/fallbackwatch/fallbackwatch/internal/cli"
)

func main() {
	os.Exit(Main(cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:]))
}

// Main runs the collector with the given arguments and returns its exit code. Flags may stand
// anywhere after the command name, before or after the arguments.
func Main(env cli.Env, args []string) int {
	app := cli.NewApp("collector", "Turns istio-proxy access logs into fallback routing answers.", env)
	cmds := map[string]func() int{
		"run":      defineRun(app, env),
		"replay":   defineReplay(app, env),
		"lint":     defineLint(app, env),
		"simulate": defineSimulate(app, env),
	}
	if len(args) == 0 {
		app.Usage(nil)
		return cli.ExitUsage
	}
	if a := args[0]; !strings.HasPrefix(a, "-") && a != "help" && cmds[a] == nil {
		fmt.Fprintf(env.Stderr, "collector: unknown command %q\n", a)
		app.Usage(nil)
		return cli.ExitUsage
	}
	cmd, code, ok := cli.Parse(app, args)
	if !ok {
		return code
	}
	return cmds[cmd]()
}
