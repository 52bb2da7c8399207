package aggregate

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for Config fields left at zero.
const (
	DefaultMaxSeries   = 10000
	DefaultMaxLabelLen = 256
)

// minLabelLen keeps room for OverflowValue and a few runes of any value.
const minLabelLen = 16

// Config sets the bounds of a Counters. The zero value is usable: it takes the defaults.
type Config struct {
	// MaxSeries is the number of series each metric may hold (fallbackwatch_requests_total,
	// fallbackwatch_request_duration_seconds, fallbackwatch_upstream_unhealthy_total,
	// fallbackwatch_decisions_total), not counting the one overflow series. 0 means
	// DefaultMaxSeries.
	MaxSeries int
	// MaxLabelLen caps every label value, in bytes; longer values are cut at a rune boundary.
	// 0 means DefaultMaxLabelLen.
	MaxLabelLen int
	// SeriesTTL drops series that no record touched for that long; 0 keeps them forever.
	SeriesTTL time.Duration
	// Now returns the current time; nil means time.Now. Only SeriesTTL uses it.
	Now func() time.Time
}

// withDefaults returns cfg with zero fields replaced by their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.MaxSeries == 0 {
		cfg.MaxSeries = DefaultMaxSeries
	}
	if cfg.MaxLabelLen == 0 {
		cfg.MaxLabelLen = DefaultMaxLabelLen
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// Validate reports every field that is out of range.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.MaxSeries < 0 {
		errs = append(errs, fmt.Errorf("aggregate config: max series %d: want 0 (default %d) or more", cfg.MaxSeries, DefaultMaxSeries))
	}
	if cfg.MaxLabelLen != 0 && cfg.MaxLabelLen < minLabelLen {
		errs = append(errs, fmt.Errorf("aggregate config: max label length %d: want 0 (default %d) or at least %d bytes", cfg.MaxLabelLen, DefaultMaxLabelLen, minLabelLen))
	}
	if cfg.SeriesTTL < 0 {
		errs = append(errs, fmt.Errorf("aggregate config: series TTL %s: want 0 (never expire) or more", cfg.SeriesTTL))
	}
	return errors.Join(errs...)
}
