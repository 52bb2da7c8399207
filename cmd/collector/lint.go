package main

import (
	"fmt"

	"github.com/fallbackwatch/fallbackwatch/internal/cli"
)

func runLint(env cli.Env, args []string) int {
	fmt.Fprintln(env.Stderr, "collector lint: not built yet")
	return cli.ExitError
}
