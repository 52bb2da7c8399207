package tail_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/tail"
)

// criCounter counts CRI lines per file. A 'P' (partial) line leaves a record unfinished, so
// the position after it is not a safe resume point.
type criCounter struct {
	full, partial int
	done          chan struct{}
}

func (c *criCounter) Open(path string) tail.LineFunc {
	return func(data []byte, lineNo int64) bool {
		fields := bytes.SplitN(data, []byte(" "), 4)
		if len(fields) == 4 && string(fields[2]) == "P" {
			c.partial++
			return false
		}
		c.full++
		if c.full == 4 {
			close(c.done)
		}
		return true
	}
}

func (c *criCounter) TooLong(path string, lineNo int64, n int) {}
func (c *criCounter) Close(path string)                        {}

func Example() {
	dir, _ := os.MkdirTemp("", "tail-example")
	defer os.RemoveAll(dir)
	data, _ := os.ReadFile("testdata/reviews-v1_istio-proxy.log")
	_ = os.WriteFile(filepath.Join(dir, "reviews-v1_default_istio-proxy-0123.log"), data, 0o644)

	h := &criCounter{done: make(chan struct{})}
	t, err := tail.New(tail.Config{
		Patterns:  []string{filepath.Join(dir, "*_istio-proxy-*.log")},
		StateFile: filepath.Join(dir, "positions.json"),
	}, h)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { // stop once the file is read
		select {
		case <-h.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := t.Run(ctx); err != nil { // returns once positions are saved
		fmt.Println(err)
	}
	fmt.Println("complete lines:", h.full, "partial lines:", h.partial)
	// Output: complete lines: 4 partial lines: 1
}
