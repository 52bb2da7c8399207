package parse

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTimeDecoderAgreesWithParse: whatever the order of values, the decoder gives what
// ParseStartTime gives (R20), errors included.
func TestTimeDecoderAgreesWithParse(t *testing.T) {
	values := []string{
		"2023-05-30T07:02:26.990Z", "2023-05-30T07:02:26.991Z", "2023-05-30T07:02:26Z",
		"2023-05-30T07:02:26.9Z", "2023-05-30T07:02:26.123456789Z", "2023-05-30T07:02:27.000Z",
		"2023-05-30T07:02:26.990+02:00", "2023-05-30T07:02:26.1234567890Z", "2023-05-30T07:02:26.99xZ",
		"2023-05-30T07:02:26.Z", "2023-05-30T07:02:26,5Z", "2023-05-30 07:02:26.990Z", "", "-",
		"2023-12-31T23:59:59.999Z", "2024-01-01T00:00:00.001Z", "2023-05-30T07:02:26.990z",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var d TimeDecoder
	for i := 0; i < 5000; i++ {
		v := values[rng.IntN(len(values))]
		want, wantErr := ParseStartTime([]byte(v))
		got, err := d.Decode([]byte(v))
		if wantErr != nil {
			require.Error(t, err, v)
			continue
		}
		require.NoError(t, err, v)
		require.True(t, want.Equal(got), "%s: got %s, want %s", v, got, want)
	}
}

func BenchmarkTimeDecoder(b *testing.B) {
	v := []byte("2023-05-30T07:02:26.990Z")
	var d TimeDecoder
	b.ReportAllocs()
	for b.Loop() {
		_, _ = d.Decode(v)
	}
}
