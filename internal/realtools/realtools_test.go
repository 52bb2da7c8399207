package realtools

import (
	"testing"
)

// recorder is a testing.TB that records whether the check failed or skipped.
type recorder struct {
	testing.TB
	failed, skipped bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatal(...any)          { r.failed = true }
func (r *recorder) Skip(...any)           { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestMissingProgramFailsUnderCI(t *testing.T) {
	for _, c := range []struct {
		ci              string
		failed, skipped bool
	}{
		{"true", true, false},
		{"", false, true},
	} {
		t.Setenv("CI", c.ci)
		r := &recorder{TB: t}
		Path(r, Debian, "fallbackwatch-no-such-program")
		if r.failed != c.failed || r.skipped != c.skipped {
			t.Errorf("CI=%q: failed %v skipped %v, want failed %v skipped %v", c.ci, r.failed, r.skipped, c.failed, c.skipped)
		}
	}
}

func TestFindsProgram(t *testing.T) {
	if p := Path(t, Debian, "fallbackwatch-no-such-program", "sh"); p == "" {
		t.Fatal("sh not found")
	}
}
