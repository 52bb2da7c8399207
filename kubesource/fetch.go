package kubesource

import (
	"context"
	"fmt"

	"github.com/fallbackwatch/fallbackwatch/routing"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// fetchPage is the page size of Fetch's list calls.
const fetchPage = 500

// Fetch reads the objects once and loads them like Source does, for commands that lint,
// simulate or replay against the live mesh. Options' Debounce, Logger and Registerer are
// not used. An unreachable server fails at once, without retries.
func Fetch(ctx context.Context, opts Options) (*routing.Config, error) {
	dyn, disc, err := opts.clients()
	if err != nil {
		return nil, err
	}
	return fetch(ctx, opts, dyn, disc)
}

func fetch(ctx context.Context, opts Options, dyn dynamic.Interface, disc resourceLister) (*routing.Config, error) {
	opts = opts.withDefaults()
	gvrs, err := resolve(ctx, disc)
	if err != nil {
		return nil, fmt.Errorf("kubesource: %w", err)
	}
	var objs []*unstructured.Unstructured
	for _, gvr := range gvrs {
		for _, ns := range opts.Namespaces {
			ri := dyn.Resource(gvr).Namespace(ns)
			lo := metav1.ListOptions{Limit: fetchPage}
			for {
				list, err := ri.List(ctx, lo)
				if err != nil {
					where := "all namespaces"
					if ns != metav1.NamespaceAll {
						where = "namespace " + ns
					}
					return nil, fmt.Errorf("kubesource: listing %s.%s/%s in %s: %w", gvr.Resource, gvr.Group, gvr.Version, where, err)
				}
				for i := range list.Items {
					objs = append(objs, &list.Items[i])
				}
				if lo.Continue = list.GetContinue(); lo.Continue == "" {
					break
				}
			}
		}
	}
	return Load(objs, opts.Load)
}
