package kubesource_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/kubetest"
	"github.com/fallbackwatch/fallbackwatch/kubesource"
	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// servedByV2 is a record of a request to reviews served by v2 with no fallback: sample 1 sends
// every request to v3 (C1 makes v2 inconsistent), sample 2 sends half of them to v2.
var servedByV2 = []byte(`{"authority":"reviews:9080","method":"GET","path":"/reviews/0","response_code":"200",` +
	`"response_flags":"-","upstream_cluster":"outbound|9080|v2|reviews.default.svc.cluster.local",` +
	`"fallback_path":"-","fallback_final_cluster_name":"-","fallback_result":"-",` +
	`"start_time":"2023-05-30T07:02:26.990Z"}`)

func bookinfo(t *testing.T, name string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "bookinfo", name))
	require.NoError(t, err)
	objs, err := kubetest.Objects(data)
	require.NoError(t, err)
	return objs
}

// check judges servedByV2 against cfg the way the collector's pipeline does.
func check(t *testing.T, cfg *routing.Config) routing.Verdict {
	t.Helper()
	var p parse.Parser
	var rec parse.Record
	require.NoError(t, p.Parse(servedByV2, &rec))
	at, err := rec.Time()
	require.NoError(t, err)
	return routing.NewChecker(cfg, routing.CheckOptions{}).Check(&rec, at)
}

// syncBuffer is a log destination safe for the Source's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLiveRoutingFromKubeAPIServer runs a Source against a real kube-apiserver with Istio's
// CRDs extended by ASM's fallback, as a collector with --routing.kubeconfig would, logged in as
// a user with only the RBAC of deploy/kube-routing.
func TestLiveRoutingFromKubeAPIServer(t *testing.T) {
	srv := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := srv.Client(t)

	// Upstream's VirtualService schema has no fallback: the API server refuses the sample.
	vsCRD, drCRD := kubetest.UpstreamIstioCRDs(t)
	require.NoError(t, admin.Apply(ctx, vsCRD, drCRD))
	require.NoError(t, admin.WaitEstablished(ctx, vsCRD, drCRD))
	sample1, sample2 := bookinfo(t, "sample1.yaml"), bookinfo(t, "sample2.yaml")
	err := admin.Apply(ctx, sample1...)
	require.ErrorContains(t, err, `unknown field "spec.http[0].route[0].fallback"`)

	// With ASM's extension it accepts it (the new schema takes a moment to be used).
	asmCRD, err := kubetest.WithASMFallback(vsCRD)
	require.NoError(t, err)
	require.NoError(t, admin.Apply(ctx, asmCRD))
	require.NoError(t, admin.WaitEstablished(ctx, asmCRD))
	require.NoError(t, admin.Apply(ctx, bookinfo(t, "destinationrule.yaml")...))
	require.Eventually(t, func() bool { return admin.Apply(ctx, sample1...) == nil }, 20*time.Second, 200*time.Millisecond,
		"the extended CRD does not accept sample 1")

	// The watcher has nothing but deploy/kube-routing's ClusterRole.
	rbac, err := os.ReadFile(filepath.Join("..", "deploy", "kube-routing", "rbac.yaml"))
	require.NoError(t, err)
	objs, err := kubetest.Objects(rbac)
	require.NoError(t, err)
	var role *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" {
			role = o
		}
	}
	require.NotNil(t, role, "deploy/kube-routing/rbac.yaml has no ClusterRole")
	binding, err := kubetest.Objects([]byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kubesource-test
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ` + role.GetName() + `
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: ` + kubetest.WatcherUser + "\n"))
	require.NoError(t, err)
	require.NoError(t, admin.Apply(ctx, append([]*unstructured.Unstructured{role}, binding...)...))

	var logs syncBuffer
	reg := prometheus.NewRegistry()
	var lastLoadOK atomic.Bool
	src, err := kubesource.New(kubesource.Options{
		Kubeconfig: srv.Kubeconfig(t, kubetest.WatcherUser),
		Debounce:   200 * time.Millisecond,
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: reg,
		Loaded:     lastLoadOK.Store,
	})
	require.NoError(t, err)
	var current atomic.Pointer[routing.Config]
	var applies atomic.Int32
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- src.Run(runCtx, func(cfg *routing.Config) {
			current.Store(cfg)
			applies.Add(1)
		})
	}()
	defer func() {
		stop()
		require.NoError(t, <-done)
		if t.Failed() {
			t.Logf("source log:\n%s", logs.String())
		}
	}()

	// With sample 1, a record served by v2 without fallback is inconsistent (C1).
	require.Eventually(t, src.Synced, 20*time.Second, 50*time.Millisecond, "first sync")
	v := check(t, current.Load())
	require.Equal(t, routing.Inconsistent, v.Kind, v.Message)
	require.Equal(t, "C1", v.Rule)
	require.Equal(t, 1.0, gaugeValue(t, reg, kubesource.MetricWatchUp))

	// After sample 2 is applied through the API, the same record is consistent within seconds.
	start := time.Now()
	require.NoError(t, admin.Apply(ctx, sample2...))
	require.Eventually(t, func() bool { return check(t, current.Load()).Kind == routing.Consistent }, 5*time.Second, 20*time.Millisecond,
		"sample 2 did not reach the checks")
	t.Logf("sample 2 reached the checks %s after the API accepted it (debounce 200ms)", time.Since(start).Round(time.Millisecond))

	// Fetch reads the same objects once, as `collector lint --routing.kubeconfig` would.
	fetched, err := kubesource.Fetch(ctx, kubesource.Options{Kubeconfig: srv.Kubeconfig(t, kubetest.WatcherUser)})
	require.NoError(t, err)
	require.Len(t, fetched.VirtualServices, 1)
	require.Len(t, fetched.DestinationRules, 1)
	require.Equal(t, routing.Consistent, check(t, fetched).Kind)
	require.True(t, strings.HasPrefix(fetched.VirtualServices[0].File, "default/reviews-route@rv"), fetched.VirtualServices[0].File)

	// An invalid update (a fallback without target, which the CRD lets through and R3 forbids)
	// keeps the last good configuration, and the log says which object and why.
	good := current.Load()
	n := applies.Load()
	invalid := sample2[0].DeepCopy()
	routes, _, err := unstructured.NestedSlice(invalid.Object, "spec", "http")
	require.NoError(t, err)
	first := routes[0].(map[string]any)["route"].([]any)[0].(map[string]any)
	first["fallback"] = map[string]any{"case": "no healthy upstream"}
	require.NoError(t, unstructured.SetNestedSlice(invalid.Object, routes, "spec", "http"))
	require.NoError(t, admin.Apply(ctx, invalid))
	require.Eventually(t, func() bool {
		return !lastLoadOK.Load()
	}, 5*time.Second, 20*time.Millisecond, "the invalid update was not refused")
	require.Same(t, good, current.Load())
	require.Equal(t, n, applies.Load())
	require.Equal(t, routing.Consistent, check(t, current.Load()).Kind)
	require.Regexp(t, `default/reviews-route@rv\d+.*fallback without target \(R3\)`, logs.String())

	// Repaired, then deleted: the record gets no verdict (no VirtualService for its host).
	require.NoError(t, admin.Apply(ctx, sample2...))
	require.Eventually(t, func() bool { return applies.Load() > n }, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, admin.Delete(ctx, sample2...))
	require.Eventually(t, func() bool { return len(current.Load().VirtualServices) == 0 }, 5*time.Second, 20*time.Millisecond,
		"the deletion did not reach the checks")
	v = check(t, current.Load())
	require.Equal(t, routing.Unknown, v.Kind, v.Message)
	require.Contains(t, v.Message, "no VirtualService")
	require.Nil(t, v.Route)
	require.True(t, lastLoadOK.Load())

	// When the API server goes away, the watch state says so and the configuration stays.
	last := current.Load()
	srv.Kill(t)
	require.Eventually(t, func() bool {
		return gaugeValue(t, reg, kubesource.MetricWatchUp) == 0
	}, 60*time.Second, 100*time.Millisecond, "the outage is not shown")
	require.Same(t, last, current.Load())
	require.True(t, src.Synced())
}

// gaugeValue returns the value of the unlabelled gauge name in reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1)
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
