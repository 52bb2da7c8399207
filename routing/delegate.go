package routing

import (
	"fmt"
	"strings"
)

// Delegation follows Istio's merge of delegate VirtualServices into their roots (pilot's
// MergeHTTPRoutes): a root route with `delegate` is replaced by the delegate's routes, in order,
// each with its match blocks merged with the root route's (root ∧ delegate). A delegate match
// block that conflicts with every root block drops the delegate route, with a warning. A
// delegate that does not exist, is not exported to the root's namespace or delegates again
// contributes no route.

// Finding codes of delegation.
const (
	CodeDelegateMissing     = "delegate-missing"
	CodeDelegateNotExported = "delegate-not-exported"
	CodeDelegateNested      = "delegate-nested"
	CodeDelegateConflict    = "delegate-conflict"
	CodeDelegateGateways    = "delegate-gateways"
)

// resolveDelegates builds every VirtualService's matched routes and the delegation findings.
func (c *Config) resolveDelegates() {
	c.delegation = nil
	byID := map[string]*VirtualService{}
	for _, vs := range c.VirtualServices {
		vs.routes = nil
		if vs.IsDelegate() {
			byID[vs.ID()] = vs
		}
	}
	find := func(sev Severity, code string, vs *VirtualService, src Source, path, format string, args ...any) {
		c.delegation = append(c.delegation, Finding{Severity: sev, Code: code, Rule: "R8", File: src.File, Line: src.Line,
			Resource: vs.Resource(), Path: path, Message: fmt.Sprintf(format, args...)})
	}
	for _, vs := range c.VirtualServices {
		if vs.IsDelegate() {
			if len(vs.Gateways) > 0 {
				find(SeverityError, CodeDelegateGateways, vs, vs.Source, "spec.gateways",
					"delegate virtual service must have no gateways specified (Istio rejects it)")
			}
			for _, r := range vs.HTTP {
				if r.Action == ActionDelegate {
					find(SeverityError, CodeDelegateNested, vs, r.Source, "spec."+r.Path()+".delegate",
						"delegate HTTP route cannot contain delegate: %s has no hosts, so it is itself a delegate (Istio rejects nested delegation)", vs.ID())
				}
			}
			continue
		}
		hasDelegate := false
		for _, r := range vs.HTTP {
			if r.Action == ActionDelegate {
				hasDelegate = true
			}
		}
		if !hasDelegate {
			continue
		}
		routes := make([]*Route, 0, len(vs.HTTP))
		for _, r := range vs.HTTP {
			if r.Action != ActionDelegate || r.Delegate == nil {
				routes = append(routes, r)
				continue
			}
			p := "spec." + r.Path() + ".delegate"
			d := byID[r.Delegate.ID()]
			if d == nil {
				find(SeverityError, CodeDelegateMissing, vs, r.Delegate.Source, p,
					"delegate virtual service %s of %s not found (a VirtualService without hosts): its requests match no route of it", r.Delegate.ID(), vs.ID())
				continue
			}
			if !d.exportedTo(vs.Namespace) {
				find(SeverityError, CodeDelegateNotExported, vs, r.Delegate.Source, p,
					"delegate virtual service %s of %s is not exported to %s (exportTo %s): Istio ignores the route", d.ID(), vs.ID(), vs.Namespace, strings.Join(d.ExportTo, ","))
				continue
			}
			for _, dr := range d.HTTP {
				if dr.Action == ActionDelegate {
					continue // nested delegation, reported on the delegate
				}
				merged, ok := mergeMatches(r.Matches, dr.Matches)
				if !ok {
					find(SeverityWarning, CodeDelegateConflict, vs, dr.Source, p,
						"HTTPMatchRequests conflict: route %s of delegate %s matches nothing that root route %s matches, so Istio drops it", dr.Label(), d.ID(), r.Label())
					continue
				}
				m := *dr
				m.Matches = merged
				m.Via = r
				if m.RetryAttempts < 0 {
					m.RetryAttempts = r.RetryAttempts
				}
				routes = append(routes, &m)
			}
		}
		vs.routes = routes
	}
}

// mergeMatches is Istio's mergeHTTPMatchRequests: every delegate block is merged with each root
// block it does not conflict with; a delegate block that conflicts with all of them is a
// conflict (ok false).
func mergeMatches(root, delegate []*Match) (out []*Match, ok bool) {
	if len(root) == 0 {
		return delegate, true
	}
	if len(delegate) == 0 {
		return root, true
	}
	for _, leaf := range delegate {
		found := false
		for _, rm := range root {
			if matchConflict(rm, leaf) {
				continue
			}
			out = append(out, mergeMatch(rm, leaf))
			found = true
		}
		if !found {
			return nil, false
		}
	}
	return out, len(out) > 0
}

// mergeMatch is root ∧ leaf, the leaf's conditions winning where both set one (Istio's
// mergeHTTPMatchRequest).
func mergeMatch(root, leaf *Match) *Match {
	out := *leaf
	if out.Name == "" {
		out.Name = root.Name
	} else if root.Name != "" {
		out.Name = root.Name + "-" + out.Name
	}
	if out.URI == nil {
		out.URI = root.URI
	}
	if out.Scheme == nil {
		out.Scheme = root.Scheme
	}
	if out.Method == nil {
		out.Method = root.Method
	}
	if out.Authority == nil {
		out.Authority = root.Authority
	}
	out.Headers = mergeMaps(root.Headers, leaf.Headers)
	out.WithoutHeaders = mergeMaps(root.WithoutHeaders, leaf.WithoutHeaders)
	out.QueryParams = mergeMaps(root.QueryParams, leaf.QueryParams)
	out.SourceLabels = mergeMaps(root.SourceLabels, leaf.SourceLabels)
	if out.Port == 0 {
		out.Port = root.Port
	}
	if out.SourceNamespace == "" {
		out.SourceNamespace = root.SourceNamespace
	}
	if len(out.Gateways) == 0 {
		out.Gateways = root.Gateways
	}
	seen := map[string]bool{}
	out.Opaque = nil
	for _, o := range append(append([]string{}, root.Opaque...), leaf.Opaque...) {
		if !seen[o] {
			seen[o] = true
			out.Opaque = append(out.Opaque, o)
		}
	}
	return &out
}

// mergeMaps copies a and then b into a new map; nil when both are empty.
func mergeMaps[V any](a, b map[string]V) map[string]V {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := make(map[string]V, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// matchConflict is Istio's hasConflict: the leaf block can match a request the root block
// excludes.
func matchConflict(root, leaf *Match) bool {
	roots := [...]*StringMatch{root.URI, root.Scheme, root.Method, root.Authority}
	leaves := [...]*StringMatch{leaf.URI, leaf.Scheme, leaf.Method, leaf.Authority}
	for i := range roots {
		if stringMatchConflict(roots[i], leaves[i]) {
			return true
		}
	}
	for k, v := range leaf.Headers {
		if stringMatchConflict(root.Headers[k], v) {
			return true
		}
	}
	for k, v := range leaf.WithoutHeaders {
		if stringMatchConflict(root.WithoutHeaders[k], v) {
			return true
		}
	}
	for k, v := range leaf.QueryParams {
		if stringMatchConflict(root.QueryParams[k], v) {
			return true
		}
	}
	if root.IgnoreURICase != leaf.IgnoreURICase {
		return true
	}
	if root.Port > 0 && leaf.Port > 0 && root.Port != leaf.Port {
		return true
	}
	if root.SourceNamespace != "" && leaf.SourceNamespace != root.SourceNamespace {
		return true
	}
	for k, v := range leaf.SourceLabels {
		if rv, ok := root.SourceLabels[k]; ok && rv != v {
			return true
		}
	}
	if len(root.Gateways) > 0 && len(leaf.Gateways) > 0 {
		if len(root.Gateways) < len(leaf.Gateways) {
			return true
		}
		for _, g := range leaf.Gateways {
			found := false
			for _, rg := range root.Gateways {
				if rg == g {
					found = true
				}
			}
			if !found {
				return true
			}
		}
	}
	return false
}

// stringMatchConflict is Istio's stringMatchConflict: a regex on one side excludes any other
// match on the other, an exact root admits only the same exact leaf, a prefix root admits leaves
// under it; anything else (a presence match on the root) conflicts.
func stringMatchConflict(root, leaf *StringMatch) bool {
	if root == nil || leaf == nil {
		return false
	}
	if root.Kind == MatchRegex && leaf.Kind != MatchPresent {
		return true
	}
	if leaf.Kind == MatchRegex && root.Kind != MatchPresent {
		return true
	}
	switch root.Kind {
	case MatchExact:
		return leaf.Kind != MatchExact || leaf.Value != root.Value
	case MatchPrefix:
		switch leaf.Kind {
		case MatchPrefix, MatchExact:
			return !strings.HasPrefix(leaf.Value, root.Value)
		}
	}
	return true
}
