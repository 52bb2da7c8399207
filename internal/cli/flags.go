package cli

import (
	"context"
	"errors"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/fallbackwatch/fallbackwatch/kubesource"
	"github.com/fallbackwatch/fallbackwatch/routing"
)

// Flagger is what flags are defined on: a kingpin application or one of its commands.
type Flagger interface {
	Flag(name, help string) *kingpin.FlagClause
}

// Routing is where a command reads its routing configuration: files (the command's --routing
// paths), or the VirtualServices and DestinationRules the Kubernetes API serves. LoadOptions
// complete what the resources leave out, as kubectl does.
type Routing struct {
	routing.LoadOptions
	Kubeconfig string  // --routing.kubeconfig: a kubeconfig file, e.g. one naming ASM's API server
	InCluster  bool    // --routing.kubernetes: the pod's service account
	Context    string  // --routing.context
	Namespaces Strings // --routing.namespaces; empty: all
}

// RoutingFlags defines --namespace and --domain, and the flags that read routing from the
// Kubernetes API instead of files, and returns what they fill.
func RoutingFlags(f Flagger) *Routing {
	var r Routing
	f.Flag("namespace", "Namespace of resources that name none, and of short host names.").
		Default(routing.DefaultNamespace).StringVar(&r.Namespace)
	f.Flag("domain", "Cluster domain completing short host names.").
		Default(routing.DefaultDomain).StringVar(&r.Domain)
	f.Flag("routing.kubeconfig", "Read VirtualServices and DestinationRules from the Kubernetes API server this kubeconfig names (e.g. ASM's), instead of files.").
		PlaceHolder("PATH").StringVar(&r.Kubeconfig)
	f.Flag("routing.kubernetes", "Read VirtualServices and DestinationRules from the Kubernetes API with the pod's service account, instead of files.").
		BoolVar(&r.InCluster)
	f.Flag("routing.context", "The kubeconfig context to use (default: its current context).").
		PlaceHolder("NAME").StringVar(&r.Context)
	f.Flag("routing.namespaces", "Namespaces to read routing objects from (repeatable or comma-separated; default: all).").
		PlaceHolder("NS").SetValue(&r.Namespaces)
	return &r
}

// Kube reports whether routing comes from the Kubernetes API.
func (r *Routing) Kube() bool { return r.Kubeconfig != "" || r.InCluster }

// Validate refuses combinations that name no single source; its error is a usage error. paths
// are the routing files given.
func (r *Routing) Validate(paths []string) error {
	switch {
	case r.Kubeconfig != "" && r.InCluster:
		return errors.New("--routing.kubeconfig and --routing.kubernetes exclude each other")
	case r.Kube() && len(paths) > 0:
		return errors.New("routing files and the Kubernetes API (--routing.kubeconfig, --routing.kubernetes) exclude each other: choose one source")
	case !r.Kube() && (r.Context != "" || len(r.Namespaces) > 0):
		return errors.New("--routing.context and --routing.namespaces need --routing.kubeconfig or --routing.kubernetes")
	}
	return nil
}

// KubeOptions are the kubesource options the flags name.
func (r *Routing) KubeOptions() kubesource.Options {
	var ns []string
	for _, n := range r.Namespaces {
		for _, part := range strings.Split(n, ",") {
			if part = strings.TrimSpace(part); part != "" {
				ns = append(ns, part)
			}
		}
	}
	return kubesource.Options{Kubeconfig: r.Kubeconfig, Context: r.Context, InCluster: r.InCluster,
		Namespaces: ns, Load: r.LoadOptions}
}

// Load reads the routing configuration once: the objects the Kubernetes API serves now, or
// the files at paths.
func (r *Routing) Load(ctx context.Context, paths []string) (*routing.Config, error) {
	if r.Kube() {
		return kubesource.Fetch(ctx, r.KubeOptions())
	}
	return routing.LoadWith(r.LoadOptions, paths...)
}

// Deprecated is a flag kept under an old name: it still works, is hidden from help, and
// Used reports whether it was given so the command can warn.
type Deprecated struct {
	Old, New string
	used     bool
}

// Alias defines the hidden flag d.Old and returns it for a value of the same type as d.New's.
func (d *Deprecated) Alias(f Flagger) *kingpin.FlagClause {
	return f.Flag(d.Old, "Deprecated: use --"+d.New+".").Hidden().IsSetByUser(&d.used)
}

// Used reports whether the old name was given.
func (d *Deprecated) Used() bool { return d.used }

// Warning is the message logged when the old name was used.
func (d *Deprecated) Warning() string {
	return "--" + d.Old + " is deprecated and will be removed; use --" + d.New
}
