package kafkasrc

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Defaults applied by Config.Validate to zero fields.
const (
	DefaultMinBytes          = 1
	DefaultMaxBytes          = 1 << 20
	DefaultMaxWait           = 500 * time.Millisecond
	DefaultCommitInterval    = time.Second
	DefaultSessionTimeout    = 30 * time.Second
	DefaultRebalanceTimeout  = 30 * time.Second
	DefaultHeartbeatInterval = 3 * time.Second
	DefaultRetryBackoffMin   = 500 * time.Millisecond
	DefaultRetryBackoffMax   = 30 * time.Second
)

// Config configures a Consumer. Zero fields take the defaults above.
type Config struct {
	// Brokers are the bootstrap addresses ("host:port").
	Brokers []string
	// Topic is the one topic the consumer reads.
	Topic string
	// Group is the consumer group; several collectors with the same group share
	// the topic's partitions.
	Group string

	// MinBytes and MaxBytes bound the size of one fetch response; MaxWait is how
	// long the broker may hold a fetch waiting for MinBytes.
	MinBytes, MaxBytes int
	MaxWait            time.Duration

	// CommitInterval is how often handled offsets are committed. Offsets are
	// also committed at the end of every generation (rebalance) and on shutdown.
	CommitInterval time.Duration

	// SessionTimeout, RebalanceTimeout and HeartbeatInterval are the group
	// membership timings sent to the coordinator. The broker bounds
	// SessionTimeout (group.min/max.session.timeout.ms).
	SessionTimeout, RebalanceTimeout, HeartbeatInterval time.Duration

	// StartOffset is where a partition without a committed offset starts:
	// kafka.FirstOffset (default) or kafka.LastOffset.
	StartOffset int64

	// RetryBackoffMin and RetryBackoffMax bound the exponential backoff between
	// attempts to reach the group coordinator or a partition leader.
	RetryBackoffMin, RetryBackoffMax time.Duration

	// Ready, when set, is called with the consumer's readiness (see
	// Consumer.Ready) whenever it is set, e.g. to export it as a metric.
	Ready func(bool)

	// Logger receives connection and group events; nil discards them.
	Logger *slog.Logger
	// Registerer receives the consumer's metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.MinBytes == 0 {
		c.MinBytes = DefaultMinBytes
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.StartOffset == 0 {
		c.StartOffset = kafka.FirstOffset
	}
	if c.RetryBackoffMin == 0 {
		c.RetryBackoffMin = DefaultRetryBackoffMin
	}
	if c.RetryBackoffMax == 0 {
		c.RetryBackoffMax = max(DefaultRetryBackoffMax, c.RetryBackoffMin)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate fills in defaults and reports every invalid field.
func (c *Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("kafka config: "+format, args...))
	}
	if len(c.Brokers) == 0 {
		bad("brokers: at least one broker address is required")
	}
	for i, b := range c.Brokers {
		if b == "" {
			bad("brokers[%d]: empty address", i)
		}
	}
	if c.Topic == "" {
		bad("topic: required")
	}
	if c.Group == "" {
		bad("group: required")
	}
	if c.MinBytes < 0 {
		bad("min bytes: %d is negative", c.MinBytes)
	}
	if c.MaxBytes < 0 {
		bad("max bytes: %d is negative", c.MaxBytes)
	}
	if c.MinBytes > c.MaxBytes && c.MaxBytes > 0 {
		bad("min bytes %d is larger than max bytes %d", c.MinBytes, c.MaxBytes)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"max wait", c.MaxWait},
		{"commit interval", c.CommitInterval},
		{"session timeout", c.SessionTimeout},
		{"rebalance timeout", c.RebalanceTimeout},
		{"heartbeat interval", c.HeartbeatInterval},
		{"retry backoff min", c.RetryBackoffMin},
		{"retry backoff max", c.RetryBackoffMax},
	} {
		if d.v < 0 {
			bad("%s: %v is negative", d.name, d.v)
		}
	}
	if c.HeartbeatInterval >= c.SessionTimeout && c.SessionTimeout > 0 {
		bad("heartbeat interval %v must be shorter than session timeout %v", c.HeartbeatInterval, c.SessionTimeout)
	}
	if c.RetryBackoffMin > c.RetryBackoffMax && c.RetryBackoffMax > 0 {
		bad("retry backoff min %v is larger than retry backoff max %v", c.RetryBackoffMin, c.RetryBackoffMax)
	}
	if c.StartOffset != kafka.FirstOffset && c.StartOffset != kafka.LastOffset {
		bad("start offset: %d is neither kafka.FirstOffset (%d) nor kafka.LastOffset (%d)",
			c.StartOffset, kafka.FirstOffset, kafka.LastOffset)
	}
	return errors.Join(errs...)
}
