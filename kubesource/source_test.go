package kubesource

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// served returns a discovery client serving VirtualServices and DestinationRules in versions.
func served(versions ...string) *fakediscovery.FakeDiscovery {
	f := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	for _, v := range versions {
		f.Resources = append(f.Resources, &metav1.APIResourceList{GroupVersion: Group + "/" + v, APIResources: []metav1.APIResource{
			{Name: "virtualservices", Namespaced: true, Kind: "VirtualService"},
			{Name: "virtualservices/status", Namespaced: true, Kind: "VirtualService"},
			{Name: "destinationrules", Namespaced: true, Kind: "DestinationRule"},
		}})
	}
	return f
}

// TestResolve: each kind is read in the first of v1, v1beta1, v1alpha3 the server serves.
func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		served []string
		want   string // the version chosen, "" for an error
	}{
		{[]string{"v1alpha3", "v1beta1", "v1"}, "v1"},
		{[]string{"v1alpha3", "v1beta1"}, "v1beta1"},
		{[]string{"v1alpha3"}, "v1alpha3"},
		{nil, ""},
	} {
		t.Run(strings.Join(tc.served, ","), func(t *testing.T) {
			gvrs, err := resolve(context.Background(), served(tc.served...))
			if tc.want == "" {
				require.ErrorContains(t, err, "are Istio's CRDs installed?")
				return
			}
			require.NoError(t, err)
			require.Equal(t, []schema.GroupVersionResource{
				{Group: Group, Version: tc.want, Resource: "virtualservices"},
				{Group: Group, Version: tc.want, Resource: "destinationrules"},
			}, gvrs)
		})
	}
}

// object reads a testdata/bookinfo file as the API would serve it.
func object(t *testing.T, file, rv string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "bookinfo", file))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, yaml.Unmarshal(data, &m))
	u := &unstructured.Unstructured{Object: runtime.DeepCopyJSON(jsonTypes(m).(map[string]any))}
	u.SetAPIVersion(Group + "/v1beta1")
	if u.GetNamespace() == "" {
		u.SetNamespace("default")
	}
	u.SetResourceVersion(rv)
	u.SetUID(types.UID("uid-" + u.GetKind()))
	return u
}

// jsonTypes turns YAML's ints into the int64 unstructured objects hold.
func jsonTypes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonTypes(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonTypes(e)
		}
	case int:
		return int64(x)
	}
	return v
}

var (
	vsGVR = schema.GroupVersionResource{Group: Group, Version: "v1beta1", Resource: "virtualservices"}
	drGVR = schema.GroupVersionResource{Group: Group, Version: "v1beta1", Resource: "destinationrules"}
)

// applied collects the configurations a Source applies.
type applied struct {
	mu   sync.Mutex
	cfgs []*routing.Config
	ch   chan *routing.Config
}

func (a *applied) apply(cfg *routing.Config) {
	a.mu.Lock()
	a.cfgs = append(a.cfgs, cfg)
	a.mu.Unlock()
	a.ch <- cfg
}

func (a *applied) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.cfgs)
}

func (a *applied) next(t *testing.T, within time.Duration) *routing.Config {
	t.Helper()
	select {
	case cfg := <-a.ch:
		return cfg
	case <-time.After(within):
		t.Fatalf("no configuration applied within %s", within)
		return nil
	}
}

// weights returns the weights of the first route of the only VirtualService.
func weights(cfg *routing.Config) []int {
	var out []int
	for _, d := range cfg.VirtualServices[0].HTTP[0].Destinations {
		out = append(out, d.Weight)
	}
	return out
}

// TestRunDebouncesAndSwaps drives a Source with client-go's fake dynamic client: the first full
// list is applied once, a burst of changes becomes one configuration (the last), an invalid
// change is refused and the previous configuration stays, and the metrics say so.
func TestRunDebouncesAndSwaps(t *testing.T) {
	dr, vs := object(t, "destinationrule.yaml", "1"), object(t, "sample2.yaml", "2")
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{vsGVR: "VirtualServiceList", drGVR: "DestinationRuleList"}, dr, vs)
	reg := prometheus.NewRegistry()
	var logs strings.Builder
	var logMu sync.Mutex
	var lastLoad atomic.Int32 // 0: none yet, 1: loaded, 2: refused
	src, err := newSource(Options{Debounce: 500 * time.Millisecond, Registerer: reg,
		Logger: newLogger(&logs, &logMu), Loaded: func(ok bool) {
			if ok {
				lastLoad.Store(1)
			} else {
				lastLoad.Store(2)
			}
		}}, dyn, served("v1beta1"))
	require.NoError(t, err)
	require.False(t, src.Synced())

	a := &applied{ch: make(chan *routing.Config, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, a.apply) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	first := a.next(t, 5*time.Second)
	require.Eventually(t, src.Synced, time.Second, time.Millisecond)
	require.Equal(t, []int{50, 50}, weights(first))
	require.Equal(t, "default/reviews-route@rv2", first.VirtualServices[0].File)
	require.NoError(t, testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP fallbackwatch_config_objects Routing objects in the configuration in use, by kind.
# TYPE fallbackwatch_config_objects gauge
fallbackwatch_config_objects{kind="DestinationRule"} 1
fallbackwatch_config_objects{kind="VirtualService"} 1
# HELP fallbackwatch_config_watch_up 1 while every list and watch of routing objects in the Kubernetes API works, 0 while the API server is unreachable or refuses them (the last good configuration stays in use).
# TYPE fallbackwatch_config_watch_up gauge
fallbackwatch_config_watch_up 1
`), MetricObjects, MetricWatchUp))
	require.Equal(t, int32(1), lastLoad.Load(), "the first configuration loaded")
	lint, err := testutil.CollectAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, lint)

	// A burst of five updates, each well within the debounce of the previous: one
	// configuration, the last one's.
	ri := dyn.Resource(vsGVR).Namespace("default")
	for i := 1; i <= 5; i++ {
		u := vs.DeepCopy()
		u.SetResourceVersion(fmt.Sprint(10 + i))
		routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
		dests := routes[0].(map[string]any)["route"].([]any)
		dests[0].(map[string]any)["weight"] = int64(50 + 10*i)
		dests[1].(map[string]any)["weight"] = int64(50 - 10*i)
		require.NoError(t, unstructured.SetNestedSlice(u.Object, routes, "spec", "http"))
		_, err := ri.Update(ctx, u, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	burst := a.next(t, 5*time.Second)
	require.Equal(t, []int{100, 0}, weights(burst))
	require.Equal(t, "default/reviews-route@rv15", burst.VirtualServices[0].File)
	time.Sleep(time.Second)
	require.Equal(t, 2, a.count(), "the burst became more than one configuration")

	// An invalid change (R3: a fallback needs a target) is refused; the burst's configuration stays.
	bad := vs.DeepCopy()
	bad.SetResourceVersion("20")
	routes, _, _ := unstructured.NestedSlice(bad.Object, "spec", "http")
	routes[0].(map[string]any)["route"].([]any)[0].(map[string]any)["fallback"] = map[string]any{}
	require.NoError(t, unstructured.SetNestedSlice(bad.Object, routes, "spec", "http"))
	_, err = ri.Update(ctx, bad, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return lastLoad.Load() == 2 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 2, a.count())
	logMu.Lock()
	require.Contains(t, logs.String(), "default/reviews-route@rv20")
	require.Contains(t, logs.String(), "fallback without target (R3)")
	logMu.Unlock()

	// Deleting the VirtualService is a valid change: a configuration without it.
	require.NoError(t, ri.Delete(ctx, "reviews-route", metav1.DeleteOptions{}))
	empty := a.next(t, 5*time.Second)
	require.Empty(t, empty.VirtualServices)
	require.Len(t, empty.DestinationRules, 1)
	require.Equal(t, int32(1), lastLoad.Load())
	require.Equal(t, 0.0, testutil.ToFloat64(src.m.objects.WithLabelValues("VirtualService")))
}

// TestRunRetriesDiscovery: while the server serves no Istio resources, Run retries with backoff,
// the watch is down and nothing is applied; it returns when its context ends.
func TestRunRetriesDiscovery(t *testing.T) {
	disc := served()
	dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())
	src, err := newSource(Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}, dyn, disc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	a := &applied{ch: make(chan *routing.Config, 1)}
	require.NoError(t, src.Run(ctx, a.apply))
	require.Zero(t, a.count())
	require.False(t, src.Synced())
	require.Equal(t, 0.0, testutil.ToFloat64(src.m.watchUp))
	// 10+20+40+40+... ms in 300 ms: more than three attempts, fewer than thirty.
	calls := 0
	for _, act := range disc.Actions() {
		if act.GetVerb() == "get" && act.GetResource().Resource == "resource" {
			calls++
		}
	}
	require.Greater(t, calls, 3*len(Versions))
	require.Less(t, calls, 30*len(Versions))
	require.ErrorContains(t, src.Run(context.Background(), a.apply), "Run called twice")
}

// TestLoadNamesObjects: problems name the object and its resourceVersion, not a file.
func TestLoadNamesObjects(t *testing.T) {
	vs := object(t, "sample1.yaml", "12345")
	require.NoError(t, unstructured.SetNestedField(vs.Object, "not-a-list", "spec", "hosts"))
	_, err := Load([]*unstructured.Unstructured{vs}, routing.LoadOptions{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "default/reviews-route@rv12345:")
	require.Contains(t, err.Error(), "virtualservice default/reviews-route spec.hosts: want a list")
}

// lockedWriter serialises the Source's log lines into w.
type lockedWriter struct {
	w  *strings.Builder
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newLogger(w *strings.Builder, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{w, mu}, nil))
}
