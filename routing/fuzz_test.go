package routing

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: the loader never panics, and every rejection is a *LoadErrors whose entries name the
// file and a line. Accepted configurations can be linted, simulated and decided on.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	more, _ := filepath.Glob("testdata/*.json")
	seeds, _ := filepath.Glob("../testdata/bookinfo/*.yaml")
	for _, p := range append(append(files, more...), seeds...) {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(matchConfig))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		c, err := LoadBytes("fuzz.yaml", data, LoadOptions{})
		if err != nil {
			var le *LoadErrors
			if !errors.As(err, &le) || len(le.Errs) == 0 {
				t.Fatalf("rejection is not a *LoadErrors: %v", err)
			}
			for _, e := range le.Errs {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Msg == "" {
					t.Fatalf("rejection without location: %#v", e)
				}
			}
			return
		}
		c.Lint()
		c.LoadMultipliers()
		c.Edges()
		if _, err := c.Simulate(nil); err != nil {
			t.Fatalf("simulate with nothing down: %v", err)
		}
		for _, vs := range c.VirtualServices {
			for _, h := range vs.Hosts {
				c.Decide(Request{Authority: h, Method: "GET", Path: "/"}, 0.5, AllHealthy)
			}
		}
	})
}
