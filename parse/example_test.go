package parse_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

func ExampleStream() {
	logs := strings.Join([]string{
		`2023-05-30T07:32:08.999123456Z stdout F {"response_code":"503","response_flags":"UH","upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local","fallback_path":"outbound|9080|v3|reviews.default.svc.cluster.local:outbound|9080|v2|reviews.default.svc.cluster.local","fallback_result":"fallback cluster is unhealthy"}`,
		`2023-05-30T07:32:09.000000000Z stdout F 2023-05-30T07:32:09.000Z info envoy upstream starting`,
	}, "\n")
	s := parse.NewStream(strings.NewReader(logs), parse.Options{})
	var r parse.Record
	for {
		line, err := s.Next(&r)
		var perr *parse.Error
		switch {
		case errors.Is(err, io.EOF):
			fmt.Println("format:", s.Format())
			return
		case errors.As(err, &perr):
			fmt.Printf("line %d: skipped=%v reason=%s\n", line, perr.Reason.Skipped(), perr.Reason)
		case err != nil:
			panic(err)
		default:
			fmt.Printf("line %d: %d %s result=%s fallback=%s\n", line, r.ResponseCode, r.Flags, r.Result, r.FallbackCluster())
		}
	}
	// Output:
	// line 1: 503 UH result=failed fallback=outbound|9080|v2|reviews.default.svc.cluster.local
	// line 2: skipped=true reason=not_json
	// format: cri
}
