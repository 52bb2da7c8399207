package parse

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSeedFailedRecord(t *testing.T) {
	line := []byte(`{"authority":"reviews:9080","duration":"0","fallback_path":"outbound|9080|v3|reviews.default.svc.cluster.local:outbound|9080|v2|reviews.default.svc.cluster.local","fallback_final_cluster_name":"-","fallback_result":"fallback cluster is unhealthy","response_code":"503","response_flags":"UH","upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local","start_time":"2023-05-30T07:32:08.999Z"}`)
	var p Parser
	var r Record
	require.NoError(t, p.Parse(line, &r))
	require.Equal(t, ResultFailed, r.Result)
	require.Equal(t, 503, r.ResponseCode)
	require.True(t, r.Flags.Has(FlagUH))
	require.Nil(t, r.FinalCluster())
	require.Equal(t, "outbound|9080|v2|reviews.default.svc.cluster.local", string(r.FallbackCluster()))
	require.Equal(t, int64(0), r.Duration)
}
