package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	b := filepath.Join(dir, "b.log")
	appendFile(t, a, numbered("a", 1, 3))
	appendFile(t, b, numbered("b", 1, 3))
	reg := newRegistry()
	rec := &recorder{dir: dir}
	cfg := fastConfig(dir, "*.log")
	cfg.StateFile = filepath.Join(dir, "positions.json")
	cfg.Registerer = reg
	r := start(t, cfg, rec)
	waitEvents(t, rec, 8)

	require.NoError(t, os.Rename(a, a+".1"))
	appendFile(t, a, "new\n")
	require.NoError(t, os.Truncate(b, 0))
	waitFor(t, "rotations", func() bool { return rotations(r, "rename") == 1 && rotations(r, "copytruncate") == 1 })
	waitEvents(t, rec, 8+2+1+2)

	require.NoError(t, testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP fallbackwatch_file_rotations_total File rotations seen, by kind (rename, copytruncate).
# TYPE fallbackwatch_file_rotations_total counter
fallbackwatch_file_rotations_total{kind="copytruncate"} 1
fallbackwatch_file_rotations_total{kind="rename"} 1
# HELP fallbackwatch_file_truncations_total Files that shrank under the reader.
# TYPE fallbackwatch_file_truncations_total counter
fallbackwatch_file_truncations_total 1
# HELP fallbackwatch_files_tracked Files currently followed.
# TYPE fallbackwatch_files_tracked gauge
fallbackwatch_files_tracked 2
`), "fallbackwatch_file_rotations_total", "fallbackwatch_file_truncations_total", "fallbackwatch_files_tracked"))
	require.Equal(t, 1, testutil.CollectAndCount(reg, "fallbackwatch_checkpoint_age_seconds"))
	problems, err := testutil.CollectAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)

	// The same registry cannot take a second tailer's metrics.
	_, err = New(cfg, rec)
	require.ErrorContains(t, err, "register metrics")

	r.stop(t)
	require.Equal(t, 0.0, testutil.ToFloat64(r.t.m.tracked))
	require.Less(t, testutil.ToFloat64(r.t.m.age), 5.0, "positions were saved on shutdown")
}

func TestNoCheckpointAgeWithoutStateFile(t *testing.T) {
	reg := newRegistry()
	cfg := fastConfig(t.TempDir(), "*.log")
	cfg.Registerer = reg
	_, err := New(cfg, &recorder{})
	require.NoError(t, err)
	require.Equal(t, 0, testutil.CollectAndCount(reg, "fallbackwatch_checkpoint_age_seconds"))
	require.Equal(t, 4, testutil.CollectAndCount(reg), "tracked, rotations{rename,copytruncate}, truncations")
}
