package main

import (
	"fmt"

	"github.com/fallbackwatch/fallbackwatch/internal/cli"
)

func runSimulate(env cli.Env, args []string) int {
	fmt.Fprintln(env.Stderr, "collector simulate: not built yet")
	return cli.ExitError
}
