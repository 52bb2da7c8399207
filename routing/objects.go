package routing

import "errors"

// Object is one resource that does not come from a file, such as a VirtualService read from the
// Kubernetes API. Name stands where a file name stands in positions, findings and errors, so
// it should say which object and which revision of it: "default/reviews-route@rv12345".
type Object struct {
	Name string
	// Data is the resource as YAML or JSON. Line numbers in errors count in Data.
	Data []byte
}

// LoadObjects reads VirtualServices and DestinationRules from objects with the loader and
// checks that files go through. Objects of other kinds are listed in Config.Ignored. Unlike a
// set of files, no objects at all is a valid, empty configuration: a cluster may hold no
// VirtualService or DestinationRule, or lose its last one.
func LoadObjects(objs []Object, opts LoadOptions) (*Config, error) {
	l := newLoader(opts)
	l.allowEmpty = true
	for _, o := range objs {
		if o.Name == "" {
			return nil, errors.New("routing: an object without a name")
		}
		l.file(o.Name, o.Data)
	}
	return l.finish("", 0)
}
