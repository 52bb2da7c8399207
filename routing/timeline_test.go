package routing

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTimelineBounds: flapping evidence and endless cluster names cannot grow a timeline without
// limit (C6 inference over hostile input).
func TestTimelineBounds(t *testing.T) {
	tl := newTimeline(8)
	t0 := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		tl.note([]byte("outbound|9080|v3|reviews.default.svc.cluster.local"), t0.Add(time.Duration(i)*time.Second), i%2 == 0)
	}
	iv := tl.Intervals()["outbound|9080|v3|reviews.default.svc.cluster.local"]
	require.LessOrEqual(t, len(iv), 8)
	require.Equal(t, t0.Add(999*time.Second), iv[len(iv)-1].End, "the latest evidence is kept")

	for i := 0; i < maxTimelineClusters+100; i++ {
		tl.note([]byte(fmt.Sprintf("outbound|80||h%d.example.com", i)), t0, true)
	}
	require.Len(t, tl.Intervals(), maxTimelineClusters)
	require.Equal(t, HealthUnknown, tl.At(fmt.Sprintf("outbound|80||h%d.example.com", maxTimelineClusters+50), t0))
}
