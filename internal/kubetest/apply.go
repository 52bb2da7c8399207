package kubetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
	"go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// IstioAPIVersion is the istio.io/api module whose kubernetes/customresourcedefinitions.gen.yaml
// the tests install.
const IstioAPIVersion = "v1.32.0"

// Objects decodes a YAML stream of Kubernetes objects.
func Objects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		// A JSON round trip gives the value types unstructured objects hold (int64, float64).
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
}

// Client applies and deletes objects of any kind the server serves.
type Client struct {
	Dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
}

// Client returns a Client of AdminUser.
func (s *Server) Client(t testing.TB) *Client {
	t.Helper()
	dyn, err := dynamic.NewForConfig(s.Admin)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(s.Admin)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{Dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}
}

func (c *Client) resource(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset() // a CRD installed since the last discovery
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := u.GetNamespace()
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		return c.Dynamic.Resource(m.Resource).Namespace(ns), nil
	}
	return c.Dynamic.Resource(m.Resource), nil
}

// Apply creates each object, or replaces it when it exists. Unknown fields are errors, as with
// kubectl apply.
func (c *Client) Apply(ctx context.Context, objs ...*unstructured.Unstructured) error {
	for _, u := range objs {
		ri, err := c.resource(u)
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		old, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = ri.Create(ctx, u, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		case err == nil:
			u = u.DeepCopy()
			u.SetResourceVersion(old.GetResourceVersion())
			_, err = ri.Update(ctx, u, metav1.UpdateOptions{FieldValidation: metav1.FieldValidationStrict})
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// ApplyYAML applies the objects of a YAML stream.
func (c *Client) ApplyYAML(ctx context.Context, data []byte) error {
	objs, err := Objects(data)
	if err != nil {
		return err
	}
	return c.Apply(ctx, objs...)
}

// Delete deletes the objects.
func (c *Client) Delete(ctx context.Context, objs ...*unstructured.Unstructured) error {
	for _, u := range objs {
		ri, err := c.resource(u)
		if err != nil {
			return err
		}
		if err := ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// UpstreamIstioCRDs returns the VirtualService and DestinationRule CRDs of istio.io/api
// IstioAPIVersion, read from the Go module cache (downloaded through the module proxy).
func UpstreamIstioCRDs(t testing.TB) (vs, dr *unstructured.Unstructured) {
	t.Helper()
	root, err := clitest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "mod", "download", "-json", "istio.io/api@"+IstioAPIVersion)
	cmd.Dir = filepath.Join(root, "tools", "kube-apiserver")
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &mod)
	}
	if err == nil && mod.Error != "" {
		err = errors.New(mod.Error)
	}
	if err != nil {
		unavailable(t, fmt.Sprintf("cannot download istio.io/api@%s for its CRDs: %v", IstioAPIVersion, err))
	}
	data, err := os.ReadFile(filepath.Join(mod.Dir, "kubernetes", "customresourcedefinitions.gen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Objects(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		switch u.GetName() {
		case "virtualservices.networking.istio.io":
			vs = u
		case "destinationrules.networking.istio.io":
			dr = u
		}
	}
	if vs == nil || dr == nil {
		t.Fatalf("istio.io/api@%s: no VirtualService or DestinationRule CRD", IstioAPIVersion)
	}
	return vs, dr
}

// ASMFallbackSchema is the OpenAPI schema of ASM's fallback on an HTTP route destination
// (spec.http[].route[].fallback), as docs/asm-crd.md describes it.
func ASMFallbackSchema() map[string]any {
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	return map[string]any{
		"type":        "object",
		"description": "Alibaba Cloud Service Mesh: where requests go when the destination's subset has no healthy endpoint.",
		"properties": map[string]any{
			"case": str("The failure that triggers the fallback; empty means no healthy endpoint."),
			"target": map[string]any{
				"type":        "object",
				"description": "The fallback destination: a host, subset and port, like route[].destination.",
				"properties": map[string]any{
					"host":   str("The service, short or fully qualified."),
					"subset": str("A subset of a DestinationRule of the host."),
					"port": map[string]any{
						"type": "object",
						"properties": map[string]any{
							"number": map[string]any{"type": "integer", "minimum": int64(0), "maximum": int64(4294967295)},
						},
					},
				},
			},
		},
	}
}

// WithASMFallback returns a copy of the upstream VirtualService CRD whose every version accepts
// ASMFallbackSchema on spec.http[].route[].
func WithASMFallback(crd *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	crd = crd.DeepCopy()
	versions, _, err := unstructured.NestedSlice(crd.Object, "spec", "versions")
	if err != nil || len(versions) == 0 {
		return nil, fmt.Errorf("CRD %s: no spec.versions", crd.GetName())
	}
	for i, v := range versions {
		vm, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("CRD %s: spec.versions[%d] is not a mapping", crd.GetName(), i)
		}
		path := []string{"schema", "openAPIV3Schema", "properties", "spec", "properties", "http", "items",
			"properties", "route", "items", "properties"}
		props, found, err := unstructured.NestedMap(vm, path...)
		if err != nil || !found {
			return nil, fmt.Errorf("CRD %s: spec.versions[%d] has no %v", crd.GetName(), i, path)
		}
		props["fallback"] = ASMFallbackSchema()
		if err := unstructured.SetNestedMap(vm, props, path...); err != nil {
			return nil, err
		}
		versions[i] = vm
	}
	if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
		return nil, err
	}
	return crd, nil
}

// WaitEstablished waits until the CRDs are established and their resources served.
func (c *Client) WaitEstablished(ctx context.Context, crds ...*unstructured.Unstructured) error {
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, crd := range crds {
		for {
			got, err := c.Dynamic.Resource(gvr).Get(ctx, crd.GetName(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			established := false
			for _, cnd := range conds {
				m, _ := cnd.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					established = true
				}
			}
			if established {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("CRD %s not established: %w", crd.GetName(), ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	c.mapper.Reset()
	return nil
}
