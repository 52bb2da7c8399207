// Command gencorpus writes a deterministic istio-proxy access-log corpus for benchmarks and
// scripts: go run ./internal/corpus/cmd/gencorpus -n 1000000 -o /tmp/access.log
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
)

func main() {
	n := flag.Int("n", 100000, "number of lines")
	out := flag.String("o", "-", "output file, - for stdout")
	format := flag.String("format", "raw", "raw, cri or docker")
	scenario := flag.String("scenario", "mixed", "mixed or bookinfo")
	seed := flag.Uint64("seed", 1, "random seed")
	start := flag.String("start", "", "start_time of the first record, RFC 3339 (default 2023-05-30T07:00:00Z)")
	rate := flag.Float64("rate", 0, "records per second of log time (default 200)")
	split := flag.Int("cri-split", 0, "split CRI lines longer than this into P/F fragments")
	text := flag.Float64("envoy-text", 0, "share of Envoy text log lines")
	flag.Parse()
	if err := run(*n, *out, *format, *scenario, *seed, *start, *rate, *split, *text); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

func run(n int, out, format, scenario string, seed uint64, start string, rate float64, split int, text float64) error {
	opts := corpus.Options{Seed: seed, Rate: rate, CRISplit: split, EnvoyTextRate: text}
	switch format {
	case "raw":
	case "cri":
		opts.Format = corpus.CRI
	case "docker":
		opts.Format = corpus.Docker
	default:
		return fmt.Errorf("unknown -format %q: want raw, cri or docker", format)
	}
	switch scenario {
	case "mixed":
	case "bookinfo":
		opts.Scenario = corpus.Bookinfo
	default:
		return fmt.Errorf("unknown -scenario %q: want mixed or bookinfo", scenario)
	}
	if start != "" {
		t, err := time.Parse(time.RFC3339Nano, start)
		if err != nil {
			return fmt.Errorf("-start %q: %w", start, err)
		}
		opts.Start = t
	}
	var w io.Writer = os.Stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
		if err := corpus.Generate(w, n, opts); err != nil {
			return err
		}
		return f.Close()
	}
	return corpus.Generate(w, n, opts)
}
