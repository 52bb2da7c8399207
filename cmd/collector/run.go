package main

import (
	"fmt"

	"github.com/fallbackwatch/fallbackwatch/internal/cli"
)

func runRun(env cli.Env, args []string) int {
	fmt.Fprintln(env.Stderr, "collector run: not built yet")
	return cli.ExitError
}
