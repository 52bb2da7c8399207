// Package kubesource reads the routing configuration from the Kubernetes API. It lists and
// watches VirtualServices and DestinationRules of networking.istio.io (v1, v1beta1 or v1alpha3,
// whichever the server serves) with client-go's dynamic informers on unstructured objects, so
// that fields the typed Istio clients do not know, such as ASM's fallback, reach the loader.
//
// Every change is debounced, then the objects go through routing.LoadObjects, the loader and
// checks that files go through, beside the configuration in use. A configuration that loads is
// handed to the caller's apply function; one that does not is logged with every problem, named
// by object and resourceVersion ("default/reviews-route@rv12345"), and the last good one stays
// in use. While the API server is unreachable the informers retry with backoff and the last
// good configuration stays in use too.
//
// The package owns neither the checker nor the flags: the collector passes Options and an apply
// function, and uses Synced for its readiness. Fetch reads the objects once, for commands that
// lint or replay against the live mesh.
package kubesource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// Group is the API group of the objects read.
const Group = "networking.istio.io"

// Versions are the versions of Group that are read, in order of preference: each kind is read in
// the first of them that the server serves.
var Versions = []string{"v1", "v1beta1", "v1alpha3"}

// kinds are the resources read, with their kind as the loader and metrics name it.
var kinds = []struct{ Kind, Resource string }{
	{"VirtualService", "virtualservices"},
	{"DestinationRule", "destinationrules"},
}

// Defaults of Options.
const (
	DefaultDebounce   = time.Second
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
)

// Options configure a Source and Fetch.
type Options struct {
	// Kubeconfig is a kubeconfig file, e.g. one mounted from a Secret naming ASM's API server.
	Kubeconfig string
	// Context is the kubeconfig context to use; empty means the file's current context.
	Context string
	// InCluster uses the pod's service account. It excludes Kubeconfig.
	InCluster bool
	// Namespaces to read; empty means all namespaces.
	Namespaces []string
	// Debounce is how long the objects must stay unchanged before a new configuration is built;
	// a stream of changes delays the build by at most ten times Debounce. Zero means
	// DefaultDebounce.
	Debounce time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts to discover the served versions
	// when the API server is unreachable or serves no Istio resources. Zero means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Load is passed to routing.LoadObjects.
	Load routing.LoadOptions
	// Logger receives one line per object change and per configuration built; nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Loaded, when set, is told after every configuration built from changed objects whether it
	// loaded (and was applied) or was refused (and the last good one stays): what a program
	// exports as its last reload's success.
	Loaded func(ok bool)
}

func (o Options) withDefaults() Options {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Namespaces) == 0 {
		o.Namespaces = []string{metav1.NamespaceAll}
	}
	return o
}

// RESTConfig returns the client configuration Options name: the in-cluster service account or
// a kubeconfig file and context.
func (o Options) RESTConfig() (*rest.Config, error) {
	var rc *rest.Config
	var err error
	switch {
	case o.InCluster && o.Kubeconfig != "":
		return nil, errors.New("kubesource: in-cluster and a kubeconfig exclude each other")
	case o.InCluster:
		if o.Context != "" {
			return nil, errors.New("kubesource: a kubeconfig context needs a kubeconfig, not in-cluster")
		}
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubesource: in-cluster configuration: %w", err)
		}
	case o.Kubeconfig != "":
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: o.Context}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubesource: kubeconfig %q: %w", o.Kubeconfig, err)
		}
	default:
		return nil, errors.New("kubesource: neither a kubeconfig nor in-cluster given")
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "fallbackwatch"
	return rc, nil
}

// Source watches the routing objects. Create it with New, run it with Run.
type Source struct {
	opts Options
	dyn  dynamic.Interface
	disc resourceLister
	log  *slog.Logger
	m    *metrics

	running atomic.Bool
	synced  atomic.Bool
	changed chan struct{} // a change arrived since the last build; capacity 1

	mu   sync.Mutex
	down map[string]error // informers whose last list or watch failed, by informer key

	lastKey string // fingerprint of the objects last built, in Run's goroutine only
}

// New returns a Source for opts and registers its metrics. It does not contact the server.
func New(opts Options) (*Source, error) {
	dyn, disc, err := opts.clients()
	if err != nil {
		return nil, err
	}
	return newSource(opts, dyn, disc)
}

// clients returns the dynamic and discovery clients of the server opts name.
func (o Options) clients() (*dynamic.DynamicClient, *discovery.DiscoveryClient, error) {
	rc, err := o.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kubesource: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kubesource: %w", err)
	}
	return dyn, disc, nil
}

// resourceLister is the part of a discovery client resolve uses.
type resourceLister interface {
	ServerResourcesForGroupVersionWithContext(ctx context.Context, groupVersion string) (*metav1.APIResourceList, error)
}

func newSource(opts Options, dyn dynamic.Interface, disc resourceLister) (*Source, error) {
	opts = opts.withDefaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Source{opts: opts, dyn: dyn, disc: disc, log: opts.Logger, m: m,
		changed: make(chan struct{}, 1), down: map[string]error{}}, nil
}

// Synced reports whether the first full list of the objects has been loaded and applied.
// It stays true afterwards, also while the API server is unreachable.
func (s *Source) Synced() bool { return s.synced.Load() }

// Run lists and watches the objects until ctx ends, calling apply from its own goroutine with
// each new valid configuration: once after the first full list, then after each debounced
// change. apply is never called with nil nor with a configuration that failed to load. Run
// returns nil when ctx ends; it can be called once.
func (s *Source) Run(ctx context.Context, apply func(*routing.Config)) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("kubesource: Run called twice")
	}
	backoff := s.opts.MinBackoff
	for {
		err := s.watch(ctx, apply)
		if ctx.Err() != nil {
			return nil
		}
		s.m.watchUp.Set(0)
		s.log.Warn("cannot watch routing objects in the Kubernetes API; the last good configuration stays in use",
			"err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// watch discovers the served versions, then runs the informers until ctx ends. It returns an
// error only when discovery fails; the informers retry list and watch themselves.
func (s *Source) watch(ctx context.Context, apply func(*routing.Config)) error {
	gvrs, err := resolve(ctx, s.disc)
	if err != nil {
		return err
	}
	// client-go's informers log through the logger in their context: ours, not klog's global one.
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(s.log.Handler()))
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var stores []cache.Store
	var synced []cache.InformerSynced
	for _, gvr := range gvrs {
		for _, ns := range s.opts.Namespaces {
			inf := s.informer(gvr, ns)
			stores = append(stores, inf.GetStore())
			synced = append(synced, inf.HasSynced)
			wg.Go(func() { inf.RunWithContext(ctx) })
		}
	}
	s.log.Info("watching routing objects in the Kubernetes API", "resources", gvrNames(gvrs),
		"namespaces", namespaceNames(s.opts.Namespaces))
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil // ctx ended
	}
	s.build(stores, apply)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.changed:
		}
		if !s.debounce(ctx) {
			return nil
		}
		s.build(stores, apply)
	}
}

// debounce waits until no change arrived for Debounce, or for ten times Debounce under a steady
// stream of changes. It reports false when ctx ended first.
func (s *Source) debounce(ctx context.Context) bool {
	deadline := time.Now().Add(10 * s.opts.Debounce)
	timer := time.NewTimer(s.opts.Debounce)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.changed:
			timer.Reset(min(s.opts.Debounce, max(0, time.Until(deadline))))
		case <-timer.C:
			return true
		}
	}
}

// informer returns an informer on gvr in ns whose list and watch calls keep the watch-state
// metric, and whose events signal s.changed.
func (s *Source) informer(gvr schema.GroupVersionResource, ns string) cache.SharedIndexInformer {
	key := gvr.Resource + "." + gvr.Version
	if ns != metav1.NamespaceAll {
		key += " in " + ns
	}
	ri := s.dyn.Resource(gvr).Namespace(ns)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l, err := ri.List(ctx, o)
			s.observe(key, err)
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := ri.Watch(ctx, o)
			s.observe(key, err)
			return w, err
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, s.dyn),
		&unstructured.Unstructured{}, cache.SharedIndexInformerOptions{ObjectDescription: key})
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			return // the reflector lists again at once; this is no outage
		}
		s.observe(key, err)
	})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				s.event("added", obj)
			}
			s.signal()
		},
		UpdateFunc: func(old, obj any) {
			if r := rv(old); r != "" && r == rv(obj) {
				return // a relist delivers every object again
			}
			s.event("updated", obj)
			s.signal()
		},
		DeleteFunc: func(obj any) {
			s.event("deleted", obj)
			s.signal()
		},
	})
	return inf
}

func (s *Source) loaded(ok bool) {
	if s.opts.Loaded != nil {
		s.opts.Loaded(ok)
	}
}

func (s *Source) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *Source) event(what string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	s.log.Info("routing object "+what, "kind", u.GetKind(), "object", objectName(u))
}

func rv(obj any) string {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.GetResourceVersion()
	}
	return ""
}

// observe records the result of a list or watch call of one informer in the watch-state metric.
func (s *Source) observe(key string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, wasDown := s.down[key]
	if err == nil {
		delete(s.down, key)
		if wasDown {
			s.log.Info("routing objects in the Kubernetes API reachable again", "informer", key)
		}
	} else {
		s.down[key] = err
		if !wasDown {
			s.log.Warn("cannot list or watch routing objects; retrying with backoff, the last good configuration stays in use",
				"informer", key, "err", err)
		}
	}
	if len(s.down) == 0 {
		s.m.watchUp.Set(1)
	} else {
		s.m.watchUp.Set(0)
	}
}

// build loads the objects in stores and applies the configuration when it is valid and the
// objects changed since the last build.
func (s *Source) build(stores []cache.Store, apply func(*routing.Config)) {
	// Drain the signal first: a change after this point is seen by this build or triggers the
	// next one.
	select {
	case <-s.changed:
	default:
	}
	var objs []*unstructured.Unstructured
	for _, st := range stores {
		for _, o := range st.List() {
			if u, ok := o.(*unstructured.Unstructured); ok {
				objs = append(objs, u)
			}
		}
	}
	key := fingerprint(objs)
	if key == s.lastKey {
		return
	}
	s.lastKey = key
	cfg, err := s.load(objs)
	if err != nil {
		s.loaded(false)
		s.log.Error("routing objects from the Kubernetes API do not load; the last good configuration stays in use",
			"objects", len(objs), "err", err)
		return
	}
	s.m.observe(cfg)
	s.loaded(true)
	apply(cfg)
	s.synced.Store(true)
	s.log.Info("routing configuration from the Kubernetes API applied",
		"virtual_services", len(cfg.VirtualServices), "destination_rules", len(cfg.DestinationRules))
}

func (s *Source) load(objs []*unstructured.Unstructured) (*routing.Config, error) {
	return Load(objs, s.opts.Load)
}

// Load turns objects read from the API into a configuration with routing.LoadObjects. Each
// object is named "<namespace>/<name>@rv<resourceVersion>" in errors and findings; line numbers
// count in the object printed as YAML with sorted keys and without metadata.managedFields.
func Load(objs []*unstructured.Unstructured, opts routing.LoadOptions) (*routing.Config, error) {
	objs = slices.Clone(objs)
	slices.SortFunc(objs, func(a, b *unstructured.Unstructured) int {
		return cmp.Or(cmp.Compare(a.GetKind(), b.GetKind()), cmp.Compare(a.GetNamespace(), b.GetNamespace()),
			cmp.Compare(a.GetName(), b.GetName()))
	})
	in := make([]routing.Object, 0, len(objs))
	for _, u := range objs {
		c := runtime.DeepCopyJSON(u.Object)
		unstructured.RemoveNestedField(c, "metadata", "managedFields")
		data, err := yaml.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", objectName(u), err)
		}
		in = append(in, routing.Object{Name: objectName(u), Data: data})
	}
	return routing.LoadObjects(in, opts)
}

// objectName is "<namespace>/<name>@rv<resourceVersion>".
func objectName(u *unstructured.Unstructured) string {
	name := u.GetName()
	if ns := u.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	if rv := u.GetResourceVersion(); rv != "" {
		name += "@rv" + rv
	}
	return name
}

// fingerprint identifies a set of objects by kind, uid and resourceVersion.
func fingerprint(objs []*unstructured.Unstructured) string {
	keys := make([]string, len(objs))
	for i, u := range objs {
		keys[i] = u.GetKind() + "/" + string(u.GetUID()) + "/" + u.GetNamespace() + "/" + u.GetName() + "@" + u.GetResourceVersion()
	}
	slices.Sort(keys)
	return fmt.Sprint(len(keys), keys)
}

// resolve finds, for each kind, the first of Versions the server serves it in.
func resolve(ctx context.Context, disc resourceLister) ([]schema.GroupVersionResource, error) {
	found := map[string]schema.GroupVersionResource{}
	for _, v := range Versions {
		list, err := disc.ServerResourcesForGroupVersionWithContext(ctx, Group+"/"+v)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("discovering %s/%s: %w", Group, v, err)
		}
		for _, r := range list.APIResources {
			if _, ok := found[r.Name]; !ok {
				found[r.Name] = schema.GroupVersionResource{Group: Group, Version: v, Resource: r.Name}
			}
		}
	}
	var out []schema.GroupVersionResource
	for _, k := range kinds {
		gvr, ok := found[k.Resource]
		if !ok {
			return nil, fmt.Errorf("the API server serves no %s in %s %v; are Istio's CRDs installed?", k.Resource, Group, Versions)
		}
		out = append(out, gvr)
	}
	return out, nil
}

func gvrNames(gvrs []schema.GroupVersionResource) []string {
	out := make([]string, len(gvrs))
	for i, g := range gvrs {
		out[i] = g.Resource + "." + g.Group + "/" + g.Version
	}
	return out
}

func namespaceNames(ns []string) []string {
	if len(ns) == 1 && ns[0] == metav1.NamespaceAll {
		return []string{"(all)"}
	}
	return ns
}
