package routing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadError is one problem in the configuration, located in its file and resource.
type LoadError struct {
	File     string
	Line     int
	Column   int
	Resource string // e.g. "virtualservice default/reviews-route"; empty outside a resource
	Path     string // the path inside the resource, e.g. "spec.http[0].route[1].weight"
	Msg      string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Resource != "" {
		b.WriteString(e.Resource)
		if e.Path != "" {
			b.WriteString(" " + e.Path)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadErrors is every problem Load found, in file and line order.
type LoadErrors struct {
	Errs []*LoadError
}

func (e *LoadErrors) Error() string {
	lines := make([]string, len(e.Errs))
	for i, x := range e.Errs {
		lines[i] = x.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual *LoadError values.
func (e *LoadErrors) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, x := range e.Errs {
		out[i] = x
	}
	return out
}

// Load reads VirtualServices and DestinationRules from files and directories (*.yaml, *.yml,
// *.json, not recursive into hidden directories) with default options.
func Load(paths ...string) (*Config, error) {
	return LoadWith(LoadOptions{}, paths...)
}

// LoadWith is Load with options.
func LoadWith(opts LoadOptions, paths ...string) (*Config, error) {
	if len(paths) == 0 {
		return nil, errors.New("no routing configuration given")
	}
	var files []string
	var errs []*LoadError
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, &LoadError{File: p, Msg: err.Error()})
			continue
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, &LoadError{File: p, Msg: err.Error()})
		}
	}
	l := newLoader(opts)
	l.errs = errs
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			l.errs = append(l.errs, &LoadError{File: f, Msg: err.Error()})
			continue
		}
		l.file(f, data)
	}
	return l.finish(strings.Join(paths, ", "), 0)
}

// LoadBytes reads configuration from one YAML or JSON stream named file.
func LoadBytes(file string, data []byte, opts LoadOptions) (*Config, error) {
	l := newLoader(opts)
	l.file(file, data)
	return l.finish(file, 1)
}

type loader struct {
	opts LoadOptions
	cfg  *Config
	errs []*LoadError

	// objects maps "<kind> <namespace>/<name>" to where it was last defined.
	objects map[string]objectAt
	// allowEmpty accepts an input without any VirtualService or DestinationRule (objects from
	// the Kubernetes API); for files it is an error.
	allowEmpty bool

	// per resource
	tooLarge bool // the node budget ran out, and it was said
	fileName string
	resource string
	ns       string
	budget   int
}

func newLoader(opts LoadOptions) *loader {
	opts = opts.withDefaults()
	ports := map[string]int{}
	for k, v := range opts.Ports {
		ports[k] = v
	}
	return &loader{opts: opts, cfg: &Config{Domain: opts.Domain, ports: ports}, objects: map[string]objectAt{}}
}

// finish indexes the configuration or returns every error; what and line locate the error of
// an input without any VirtualService or DestinationRule.
func (l *loader) finish(what string, line int) (*Config, error) {
	if !l.allowEmpty && len(l.errs) == 0 && len(l.cfg.VirtualServices) == 0 && len(l.cfg.DestinationRules) == 0 {
		msg := "no VirtualService or DestinationRule found"
		if n := len(l.cfg.Ignored); n > 0 {
			msg += fmt.Sprintf(" (%d other document(s) skipped)", n)
		}
		l.errs = append(l.errs, &LoadError{File: what, Line: line, Msg: msg})
	}
	if len(l.errs) > 0 {
		sort.SliceStable(l.errs, func(i, j int) bool {
			a, b := l.errs[i], l.errs[j]
			if a.File != b.File {
				return a.File < b.File
			}
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Column < b.Column
		})
		return nil, &LoadErrors{Errs: l.errs}
	}
	l.cfg.index()
	return l.cfg, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// maxNodes bounds the work on one document (alias expansion included).
const maxNodes = 1 << 20

func (l *loader) file(name string, data []byte) {
	l.fileName = name
	dec := yaml.NewDecoder(bytes.NewReader(data))
	lastLine := 1
	for {
		var doc yaml.Node
		err := decodeSafe(dec, &doc)
		if err == io.EOF {
			return
		}
		if err != nil {
			line := lastLine
			if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
				if n, e := strconv.Atoi(m[1]); e == nil && n > 0 {
					line = n
				}
			}
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			l.errs = append(l.errs, &LoadError{File: name, Line: line, Msg: "invalid YAML: " + msg})
			return // the decoder cannot resynchronise after a syntax error
		}
		if doc.Line > 0 {
			lastLine = doc.Line
		}
		if len(doc.Content) == 0 {
			continue
		}
		l.budget = maxNodes
		l.tooLarge = false
		l.resource = ""
		l.object(doc.Content[0], "")
	}
}

// decodeSafe turns a panic inside the YAML library into an error.
func decodeSafe(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return dec.Decode(n)
}

func (l *loader) errf(n *yaml.Node, path, format string, args ...any) {
	e := &LoadError{File: l.fileName, Resource: l.resource, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	if e.Line == 0 {
		e.Line = 1
	}
	l.errs = append(l.errs, e)
}

func (l *loader) src(n *yaml.Node) Source {
	return Source{File: l.fileName, Line: n.Line, Column: n.Column}
}

// resolve follows aliases, charging the node budget.
func (l *loader) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	l.budget--
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func idx(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// kv is one key and value of a mapping.
type kv struct {
	key *yaml.Node // resolved scalar key
	val *yaml.Node
}

// maxMergeDepth bounds nested merge keys.
const maxMergeDepth = 16

// entries returns the key/value pairs of a mapping as YAML merge keys (<<) define them: the
// mapping's own keys first, then those of merged mappings that it does not set itself, earlier
// merged mappings winning over later ones. Keys of the mapping itself that repeat are returned
// in dups.
func (l *loader) entries(n *yaml.Node, path string, depth int) (out []kv, dups []*yaml.Node) {
	seen := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := l.resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			l.errf(n.Content[i], path, "want a string key")
			continue
		}
		if k.Value == "<<" && (k.Tag == "!!merge" || k.Tag == "") {
			merges = append(merges, n.Content[i+1])
			continue
		}
		if seen[k.Value] {
			dups = append(dups, k)
			continue
		}
		seen[k.Value] = true
		out = append(out, kv{k, n.Content[i+1]})
	}
	for _, m := range merges {
		mv := l.resolve(m)
		srcs := []*yaml.Node{mv}
		if mv != nil && mv.Kind == yaml.SequenceNode {
			srcs = srcs[:0]
			for _, c := range mv.Content {
				srcs = append(srcs, l.resolve(c))
			}
		}
		for _, src := range srcs {
			if depth >= maxMergeDepth || l.budget < 0 {
				if !l.tooLarge {
					l.tooLarge = true
					l.errf(m, path, "document too large or too deeply aliased")
				}
				return out, dups
			}
			if src == nil || src.Kind != yaml.MappingNode {
				l.errf(m, path, "merge key << wants a mapping or a list of mappings")
				continue
			}
			inner, _ := l.entries(src, path, depth+1)
			for _, e := range inner {
				if !seen[e.key.Value] {
					seen[e.key.Value] = true
					out = append(out, e)
				}
			}
		}
	}
	return out, dups
}

// fields walks a mapping (merge keys applied), calling f for each key. A non-mapping, duplicate
// keys and keys f does not accept (f returns false) are errors.
func (l *loader) fields(n *yaml.Node, path string, f func(key string, v *yaml.Node, p string) bool) bool {
	n = l.resolve(n)
	if n == nil || l.budget < 0 {
		l.errf(n, path, "document too large or too deeply aliased")
		return false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return true
	}
	if n.Kind != yaml.MappingNode {
		l.errf(n, path, "want a mapping, got %s", kindName(n))
		return false
	}
	es, dups := l.entries(n, path, 0)
	for _, k := range dups {
		l.errf(k, join(path, k.Value), "duplicate field")
	}
	for _, e := range es {
		if !f(e.key.Value, e.val, join(path, e.key.Value)) {
			l.errf(e.key, join(path, e.key.Value), "unknown field %q", e.key.Value)
		}
	}
	return true
}

func (l *loader) items(n *yaml.Node, path string, f func(i int, v *yaml.Node, p string)) {
	n = l.resolve(n)
	if n == nil || l.budget < 0 {
		l.errf(n, path, "document too large or too deeply aliased")
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.SequenceNode {
		l.errf(n, path, "want a list, got %s", kindName(n))
		return
	}
	for i, c := range n.Content {
		if l.budget < 0 {
			l.errf(c, path, "document too large or too deeply aliased")
			return
		}
		f(i, c, idx(path, i))
	}
}

func kindName(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!float":
			return "a number"
		}
		return fmt.Sprintf("%q", clip(n.Value))
	}
	return "a document"
}

// clip shortens a piece of input for quoting in a message.
func clip[T string | []byte](s T) string {
	if len(s) > 60 {
		return string(s[:60]) + "…"
	}
	return string(s)
}

func (l *loader) str(n *yaml.Node, path string) string {
	n = l.resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.errf(n, path, "want a string, got %s", kindName(n))
		return ""
	}
	if n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!bool" {
		l.errf(n, path, "want a string, got %s", n.Tag)
		return ""
	}
	return n.Value
}

func (l *loader) integer(n *yaml.Node, path string) (int, bool) {
	n = l.resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		l.errf(n, path, "want an integer, got %s", kindName(n))
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || v > 1<<31-1 || v < -(1<<31) {
		l.errf(n, path, "integer %q out of range", clip(n.Value))
		return 0, false
	}
	return int(v), true
}

func (l *loader) boolean(n *yaml.Node, path string) bool {
	n = l.resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		l.errf(n, path, "want true or false, got %s", kindName(n))
		return false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
}

func (l *loader) strings(n *yaml.Node, path string) []string {
	var out []string
	l.items(n, path, func(_ int, v *yaml.Node, p string) { out = append(out, l.str(v, p)) })
	return out
}

// any accepts a value that fallbackwatch does not model.
func (l *loader) any(*yaml.Node, string) {}

// object decodes one top-level resource (or a List of them).
func (l *loader) object(n *yaml.Node, path string) {
	n = l.resolve(n)
	if n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode && path == "" {
		l.skip(n, "not a Kubernetes object (%s, not a mapping with apiVersion and kind)", kindName(n))
		return
	}
	if n.Kind != yaml.MappingNode {
		l.errf(n, path, "want a Kubernetes resource (a mapping with apiVersion and kind), got %s", kindName(n))
		return
	}
	if path == "" && !l.hasKey(n, "kind") {
		if l.hasKey(n, "apiVersion") {
			l.skip(n, "not a Kubernetes object (apiVersion without kind)")
		} else {
			l.skip(n, "not a Kubernetes object (no apiVersion and kind)")
		}
		return
	}
	top := map[string]*yaml.Node{}
	keyOf := map[string]*yaml.Node{}
	l.fields(n, path, func(k string, v *yaml.Node, _ string) bool {
		top[k] = v
		keyOf[k] = n
		return true
	})
	kind, api := "", ""
	if v := top["kind"]; v != nil {
		kind = l.str(v, join(path, "kind"))
	}
	if v := top["apiVersion"]; v != nil {
		api = l.str(v, join(path, "apiVersion"))
	}
	if kind == "" {
		l.errf(n, path, "resource without kind")
		return
	}
	if kind == "List" || strings.HasSuffix(kind, "List") {
		for k, v := range top {
			switch k {
			case "apiVersion", "kind", "metadata":
			case "items":
				l.items(v, join(path, "items"), func(_ int, item *yaml.Node, p string) {
					l.resource = ""
					l.object(item, p)
				})
			default:
				l.errf(v, join(path, k), "unknown field %q in %s", k, kind)
			}
		}
		return
	}
	group, version, _ := strings.Cut(api, "/")
	if (kind != "VirtualService" && kind != "DestinationRule") || group != "networking.istio.io" {
		name := ""
		if md := l.resolve(top["metadata"]); md != nil && md.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(md.Content); i += 2 {
				if md.Content[i].Value == "name" {
					name = md.Content[i+1].Value
				}
			}
		}
		l.cfg.Ignored = append(l.cfg.Ignored, fmt.Sprintf("%s:%d: %s %s", l.fileName, n.Line, kind, name))
		return
	}
	lower := strings.ToLower(kind)
	l.resource = lower
	switch version {
	case "v1alpha3", "v1beta1", "v1":
	default:
		l.errf(top["apiVersion"], join(path, "apiVersion"), "unsupported apiVersion %q (want networking.istio.io/v1alpha3, v1beta1 or v1)", api)
		return
	}
	name, ns := "", l.opts.Namespace
	if md := top["metadata"]; md != nil {
		name, ns = l.metadata(md, join(path, "metadata"), ns)
	}
	unnamed := name == ""
	if unnamed {
		l.errf(n, join(path, "metadata.name"), "resource without metadata.name")
		name = "<unnamed>"
	}
	l.resource = lower + " " + ns + "/" + name
	l.ns = ns
	for k, v := range top {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
		case "spec":
		default:
			l.errf(v, k, "unknown field %q", k)
		}
	}
	spec := top["spec"]
	if spec == nil {
		l.errf(n, "spec", "resource without spec")
		return
	}
	src := l.src(n)
	key := l.resource
	prev, dup := l.objects[key]
	dup = dup && !unnamed
	if dup {
		where := "in " + prev.File
		if prev.File == src.File {
			where = "earlier in the same file"
		}
		l.cfg.Notes = append(l.cfg.Notes, Note{File: src.File, Line: src.Line, Message: fmt.Sprintf(
			"%s is defined again; this definition replaces the one %s (line %d), as kubectl apply applies files and documents in order",
			l.resource, where, prev.Line)})
	}
	if kind == "VirtualService" {
		vs := &VirtualService{Name: name, Namespace: ns, Source: src}
		l.virtualService(vs, spec, "spec")
		if dup {
			l.cfg.VirtualServices[prev.index] = vs
		} else {
			l.objects[key] = objectAt{Source: src, index: len(l.cfg.VirtualServices)}
			l.cfg.VirtualServices = append(l.cfg.VirtualServices, vs)
		}
	} else {
		dr := &DestinationRule{Name: name, Namespace: ns, Source: src}
		l.destinationRule(dr, spec, "spec")
		if dup {
			l.cfg.DestinationRules[prev.index] = dr
		} else {
			l.objects[key] = objectAt{Source: src, index: len(l.cfg.DestinationRules)}
			l.cfg.DestinationRules = append(l.cfg.DestinationRules, dr)
		}
	}
	if dup {
		l.objects[key] = objectAt{Source: src, index: prev.index}
	}
}

// objectAt is where an object was defined and its index in the Config's list of its kind.
type objectAt struct {
	Source
	index int
}

// hasKey reports whether mapping n has key k, without reporting anything.
func (l *loader) hasKey(n *yaml.Node, k string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if c := l.resolve(n.Content[i]); c != nil && c.Kind == yaml.ScalarNode && c.Value == k {
			return true
		}
	}
	return false
}

// skip records a top-level document that is not a Kubernetes object.
func (l *loader) skip(n *yaml.Node, format string, args ...any) {
	line := n.Line
	if line == 0 {
		line = 1
	}
	l.cfg.Ignored = append(l.cfg.Ignored, fmt.Sprintf("%s:%d: %s", l.fileName, line, fmt.Sprintf(format, args...)))
}

func (l *loader) metadata(n *yaml.Node, path, defaultNS string) (name, ns string) {
	ns = defaultNS
	l.fields(n, path, func(k string, v *yaml.Node, p string) bool {
		switch k {
		case "name":
			name = l.str(v, p)
		case "namespace":
			if s := l.str(v, p); s != "" {
				ns = s
			}
		case "labels", "annotations", "uid", "resourceVersion", "generation", "creationTimestamp",
			"managedFields", "ownerReferences", "finalizers", "selfLink", "generateName",
			"deletionTimestamp", "deletionGracePeriodSeconds":
		default:
			return false
		}
		return true
	})
	return name, ns
}

func (l *loader) host(n *yaml.Node, path string) string {
	h := l.str(n, path)
	if h == "" {
		l.errf(n, path, "empty host")
	}
	return fqdn(h, l.ns, l.opts.Domain)
}

func (l *loader) virtualService(vs *VirtualService, n *yaml.Node, path string) {
	l4 := map[string]*yaml.Node{}
	l.fields(n, path, func(k string, v *yaml.Node, p string) bool {
		switch k {
		case "hosts":
			l.items(v, p, func(_ int, h *yaml.Node, hp string) {
				vs.Hosts = append(vs.Hosts, l.host(h, hp))
				vs.written = append(vs.written, l.resolve(h).Value)
			})
		case "gateways":
			vs.Gateways = l.strings(v, p)
		case "http":
			l.items(v, p, func(i int, r *yaml.Node, rp string) {
				route := &Route{VirtualService: vs, Index: i, Source: l.src(l.resolve(r)), RetryAttempts: -1}
				l.httpRoute(route, r, rp)
				vs.HTTP = append(vs.HTTP, route)
			})
		case "tcp", "tls":
			l4[k] = v
			l.items(v, p, func(_ int, r *yaml.Node, rp string) { l.l4Route(r, rp) })
		case "exportTo":
			vs.ExportTo = l.strings(v, p)
		default:
			return false
		}
		return true
	})
	if len(vs.Hosts) == 0 {
		// A VirtualService without hosts is a delegate (an empty list is as good as none).
		vs.Hosts = nil
		for _, k := range []string{"tcp", "tls"} {
			if v := l4[k]; v != nil {
				l.errf(l.resolve(v), join(path, k), "delegate virtual service must have no %s route specified (a VirtualService without hosts is a delegate)", k)
			}
		}
	}
}

func (l *loader) httpRoute(r *Route, n *yaml.Node, path string) {
	actions := 0
	l.fields(n, path, func(k string, v *yaml.Node, p string) bool {
		switch k {
		case "name":
			r.Name = l.str(v, p)
		case "match":
			l.items(v, p, func(_ int, m *yaml.Node, mp string) { r.Matches = append(r.Matches, l.match(m, mp)) })
		case "route":
			actions++
			l.items(v, p, func(i int, d *yaml.Node, dp string) {
				if dst := l.routeDestination(d, dp); dst != nil {
					r.Destinations = append(r.Destinations, dst)
				}
			})
			if len(r.Destinations) == 0 {
				l.errf(v, p, "empty route list")
			}
		case "redirect":
			actions++
			r.Action = ActionRedirect
		case "directResponse":
			actions++
			r.Action = ActionDirectResponse
		case "delegate":
			actions++
			r.Action = ActionDelegate
			ref := &DelegateRef{Namespace: l.ns}
			if dv := l.resolve(v); dv != nil {
				ref.Source = l.src(dv)
			}
			l.fields(v, p, func(k string, dv *yaml.Node, dp string) bool {
				switch k {
				case "name":
					ref.Name = l.str(dv, dp)
				case "namespace":
					if s := l.str(dv, dp); s != "" {
						ref.Namespace = s
					}
				default:
					return false
				}
				return true
			})
			if ref.Name == "" {
				l.errf(v, join(p, "name"), "delegate without name")
			}
			r.Delegate = ref
		case "retries":
			l.fields(v, p, func(k string, rv *yaml.Node, rp string) bool {
				switch k {
				case "attempts":
					if a, ok := l.integer(rv, rp); ok {
						if a < 0 {
							l.errf(rv, rp, "attempts %d: must be >= 0 (R7)", a)
						}
						r.RetryAttempts = a
					}
				case "perTryTimeout", "retryOn", "retryRemoteLocalities", "retryIgnorePreviousHosts", "backoff":
				default:
					return false
				}
				return true
			})
		case "rewrite", "timeout", "fault", "mirror", "mirrors", "mirrorPercent", "mirrorPercentage",
			"mirror_percent", "corsPolicy", "headers":
		default:
			return false
		}
		return true
	})
	if actions > 1 {
		l.errf(n, path, "route, redirect, directResponse and delegate are mutually exclusive")
	}
	if actions == 0 {
		l.errf(n, path, "an HTTP route needs route, redirect, directResponse or delegate")
	}
	for _, d := range r.Destinations {
		if d.Weight > 0 {
			r.weightSum += d.Weight
		}
		if d.Fallback != nil {
			r.hasFallbck = true
		}
	}
	id := strconv.Itoa(r.Index)
	if r.Name != "" {
		id = r.Name
	}
	r.label = r.VirtualService.ID() + "#" + id
}

func (l *loader) routeDestination(n *yaml.Node, path string) *Destination {
	d := &Destination{Path: path}
	rn := l.resolve(n)
	if rn != nil {
		d.Source = l.src(rn)
	}
	hasDest := false
	l.fields(n, path, func(k string, v *yaml.Node, p string) bool {
		switch k {
		case "destination":
			hasDest = true
			d.Endpoint = l.destination(v, p)
		case "weight":
			if w, ok := l.integer(v, p); ok {
				d.Weight, d.WeightSet = w, true
			}
		case "headers":
		case "fallback":
			fb := &Fallback{}
			if fv := l.resolve(v); fv != nil {
				fb.Source = l.src(fv)
			}
			hasTarget := false
			l.fields(v, p, func(k string, tv *yaml.Node, tp string) bool {
				switch k {
				case "case":
					fb.Case = l.str(tv, tp)
				case "target":
					hasTarget = true
					fb.Target = l.destination(tv, tp)
				default:
					return false
				}
				return true
			})
			if !hasTarget {
				l.errf(v, p, "fallback without target (R3)")
			} else {
				d.Fallback = fb
			}
		default:
			return false
		}
		return true
	})
	if !hasDest {
		l.errf(n, path, "route entry without destination")
		return nil
	}
	return d
}

func (l *loader) destination(n *yaml.Node, path string) Endpoint {
	var e Endpoint
	hasHost := false
	l.fields(n, path, func(k string, v *yaml.Node, p string) bool {
		switch k {
		case "host":
			hasHost = true
			e.Host = l.host(v, p)
		case "subset":
			e.Subset = l.str(v, p)
		case "port":
			l.fields(v, p, func(k string, pv *yaml.Node, pp string) bool {
				if k != "number" {
					return false
				}
				if num, ok := l.integer(pv, pp); ok {
					if num < 1 || num > 65535 {
						l.errf(pv, pp, "port %d not in 1..65535", num)
					} else {
						e.Port = num
					}
				}
				return true
			})
		default:
			return false
		}
		return true
	})
	if !hasHost {
		l.errf(n, path, "destination without host")
	}
	if strings.ContainsAny(e.Subset, "|:") {
		l.errf(n, join(path, "subset"), "subset %q contains '|' or ':'", clip(e.Subset))
	}
	if strings.ContainsAny(e.Host, "|:") {
		l.errf(n, join(path, "host"), "host %q contains '|' or ':'", clip(e.Host))
	}
	return e
}

// l4Route decodes a tcp[] or tls[] entry loosely; fallback there is an error (R4).
func (l *loader) l4Route(n *yaml.Node, path string) {
	l.fields(n, path, func(k string, v *yaml.Node, p string) bool {
		switch k {
		case "match":
		case "route":
			l.items(v, p, func(_ int, d *yaml.Node, dp string) {
				l.fields(d, dp, func(k string, dv *yaml.Node, ddp string) bool {
					switch k {
					case "destination":
						l.destination(dv, ddp)
					case "weight":
						l.integer(dv, ddp)
					case "fallback":
						l.errf(dv, ddp, "fallback exists only on http routes (R4)")
					default:
						return false
					}
					return true
				})
			})
		default:
			return false
		}
		return true
	})
}

func (l *loader) match(n *yaml.Node, path string) *Match {
	m := &Match{}
	if rn := l.resolve(n); rn != nil {
		m.Source = l.src(rn)
	}
	matchMap := func(v *yaml.Node, p string, header bool) map[string]*StringMatch {
		out := map[string]*StringMatch{}
		l.fields(v, p, func(h string, hv *yaml.Node, hp string) bool {
			if header {
				h = strings.ToLower(h)
			}
			if sm := l.stringMatchOrPresent(hv, hp); sm != nil {
				out[h] = sm
			}
			return true
		})
		return out
	}
	l.fields(n, path, func(k string, v *yaml.Node, p string) bool {
		switch k {
		case "name":
			m.Name = l.str(v, p)
		case "uri":
			m.URI = l.stringMatch(v, p)
		case "method":
			m.Method = l.stringMatch(v, p)
		case "authority":
			m.Authority = l.stringMatch(v, p)
		case "scheme":
			m.Scheme = l.stringMatch(v, p)
		case "headers":
			m.Headers = matchMap(v, p, true)
		case "withoutHeaders":
			m.WithoutHeaders = matchMap(v, p, true)
		case "ignoreUriCase":
			m.IgnoreURICase = l.boolean(v, p)
		case "port":
			if num, ok := l.integer(v, p); ok {
				if num < 1 || num > 65535 {
					l.errf(v, p, "port %d not in 1..65535", num)
				}
				m.Port = num
			}
			m.Opaque = append(m.Opaque, k)
		case "gateways":
			m.Gateways = l.strings(v, p)
			sort.Strings(m.Gateways)
			if m.Gateways == nil {
				m.Gateways = []string{}
			}
			m.Opaque = append(m.Opaque, k)
		case "sourceLabels":
			m.SourceLabels = map[string]string{}
			l.fields(v, p, func(lk string, lv *yaml.Node, lp string) bool {
				m.SourceLabels[lk] = l.str(lv, lp)
				return true
			})
			m.Opaque = append(m.Opaque, k)
		case "queryParams":
			m.QueryParams = matchMap(v, p, false)
			m.Opaque = append(m.Opaque, k)
		case "sourceNamespace":
			m.SourceNamespace = l.str(v, p)
			m.Opaque = append(m.Opaque, k)
		case "statPrefix":
		default:
			return false
		}
		return true
	})
	sort.Strings(m.Opaque)
	return m
}

// stringMatchOrPresent is stringMatch where an empty mapping (or null) means "present", as Istio
// reads `headers: {end-user: {}}`.
func (l *loader) stringMatchOrPresent(n *yaml.Node, path string) *StringMatch {
	rn := l.resolve(n)
	if rn != nil && ((rn.Kind == yaml.MappingNode && len(rn.Content) == 0) || (rn.Kind == yaml.ScalarNode && rn.Tag == "!!null")) {
		return &StringMatch{Kind: MatchPresent}
	}
	return l.stringMatch(n, path)
}

func (l *loader) stringMatch(n *yaml.Node, path string) *StringMatch {
	sm := &StringMatch{}
	count := 0
	l.fields(n, path, func(k string, v *yaml.Node, p string) bool {
		switch k {
		case "exact":
			sm.Kind = MatchExact
		case "prefix":
			sm.Kind = MatchPrefix
		case "regex":
			sm.Kind = MatchRegex
		default:
			return false
		}
		count++
		sm.Value = l.str(v, p)
		if sm.Kind == MatchRegex {
			re, err := regexp.Compile("^(?:" + sm.Value + ")$")
			if err != nil {
				l.errf(v, p, "invalid RE2 regex %q: %v", clip(sm.Value), err)
				sm.re = regexp.MustCompile(`^\b\B$`) // matches nothing
			} else {
				sm.re = re
			}
		}
		return true
	})
	if count != 1 {
		l.errf(n, path, "want exactly one of exact, prefix, regex")
		if count == 0 {
			return nil
		}
	}
	return sm
}

func (l *loader) destinationRule(dr *DestinationRule, n *yaml.Node, path string) {
	hasHost := false
	l.fields(n, path, func(k string, v *yaml.Node, p string) bool {
		switch k {
		case "host":
			hasHost = true
			dr.Host = l.host(v, p)
		case "subsets":
			seen := map[string]bool{}
			l.items(v, p, func(_ int, s *yaml.Node, sp string) {
				name := ""
				l.fields(s, sp, func(k string, sv *yaml.Node, ssp string) bool {
					switch k {
					case "name":
						name = l.str(sv, ssp)
					case "labels", "trafficPolicy":
					default:
						return false
					}
					return true
				})
				if name == "" {
					l.errf(s, sp, "subset without name")
					return
				}
				if seen[name] {
					l.errf(s, join(sp, "name"), "duplicate subset %q", name)
				}
				seen[name] = true
				dr.Subsets = append(dr.Subsets, name)
			})
		case "trafficPolicy", "exportTo", "workloadSelector":
		default:
			return false
		}
		return true
	})
	if !hasHost {
		l.errf(n, join(path, "host"), "a DestinationRule needs a host")
	}
}
