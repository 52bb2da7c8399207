package cli

import (
	"github.com/alecthomas/kingpin/v2"

	"github.com/fallbackwatch/fallbackwatch/routing"
)

// Flagger is what flags are defined on: a kingpin application or one of its commands.
type Flagger interface {
	Flag(name, help string) *kingpin.FlagClause
}

// LoadOptionFlags defines --namespace and --domain, which complete what routing resources leave
// out as kubectl does (routing.LoadOptions), and returns the options they fill.
func LoadOptionFlags(f Flagger) *routing.LoadOptions {
	var o routing.LoadOptions
	f.Flag("namespace", "Namespace of resources that name none, and of short host names.").
		Default(routing.DefaultNamespace).StringVar(&o.Namespace)
	f.Flag("domain", "Cluster domain completing short host names.").
		Default(routing.DefaultDomain).StringVar(&o.Domain)
	return &o
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
