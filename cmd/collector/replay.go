package main

import (
	"fmt"

	"github.com/fallbackwatch/fallbackwatch/internal/cli"
)

func runReplay(env cli.Env, args []string) int {
	fmt.Fprintln(env.Stderr, "collector replay: not built yet")
	return cli.ExitError
}
