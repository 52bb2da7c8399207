// Package kafkasrc is the Kafka source of `collector run`: it reads access-log
// messages from one topic as a member of a consumer group and passes each one
// to a Handler.
//
// Delivery is at-least-once. An offset is committed only after the handler has
// accounted for the message and every earlier one of its partition: a
// PartitionHandler says, after each message, from which offset the partition
// would have to be read again (an earlier one while it holds the first part of
// a record whose end has not arrived). Commits happen every CommitInterval, at
// the end of each group generation (rebalance) and on shutdown. When a
// generation ends the consumer stops fetching, waits for the handler calls in
// flight, commits, closes the partition handlers and only then rejoins the
// group; the coordinator cannot hand a partition to another member before
// that, so a rebalance re-delivers only the messages after the oldest record
// still open and those whose final commit failed. Broker outages are retried
// with capped exponential backoff while Ready reports false; a partition's
// fetch errors are retried with the same backoff.
//
// The package does not parse messages: a message's content, junk included, is
// the handler's business, and the consumer never stops because of it.
//
// Metrics (docs/metrics.md): fallbackwatch_kafka_consumer_lag{topic,partition},
// fallbackwatch_kafka_messages_total{topic} and
// fallbackwatch_kafka_commit_errors_total{topic}. Readiness is reported through
// Config.Ready to whoever exports it.
package kafkasrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Message is one Kafka record as the handler sees it.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	// Value is valid only during the Handler call; copy what you keep.
	Value   []byte
	Time    time.Time
	Headers []kafka.Header
}

// Handler is called for every message, in offset order within a partition.
// Each assigned partition has its own goroutine, so Handler is called
// concurrently for different partitions and must be safe for that. Message
// fields are valid only during the call. When Handler returns, the message
// counts as accounted for and its offset may be committed: a message that
// cannot be used (garbage, poison) is the handler's to count and drop. A
// handler that keeps state between messages is a Partitioner.
type Handler func(m Message)

// PartitionHandler receives the messages of one partition for one group
// generation, from one goroutine, in offset order.
type PartitionHandler interface {
	// Handle takes one message and returns the offset from which the
	// partition would have to be read again for nothing to be lost: m.Offset+1
	// when this message and every earlier one are accounted for, or the offset
	// of the first message of the oldest record still incomplete. Returned
	// offsets never decrease; the consumer commits at most this offset.
	Handle(m Message) (resume int64)
	// Close ends the generation for the partition, which may now go to
	// another member; that member reads again from the committed offset, so
	// state about incomplete records is to be dropped, not counted.
	Close()
}

// Partitioner returns the PartitionHandler of a partition a generation
// assigns to this member. It is called concurrently for different partitions.
type Partitioner func(topic string, partition int) PartitionHandler

// Each is the Partitioner of a Handler: every message is accounted for when h
// returns.
func Each(h Handler) Partitioner {
	return func(string, int) PartitionHandler { return each(h) }
}

type each Handler

func (h each) Handle(m Message) int64 { h(m); return m.Offset + 1 }
func (h each) Close()                 {}

// Consumer reads one topic as a consumer group member. Create it with New and
// drive it with Run.
type Consumer struct {
	cfg Config
	p   Partitioner
	m   *metrics
	log *slog.Logger

	ready   atomic.Bool
	running atomic.Bool

	// unsettled counts messages that were handled but whose offsets could not
	// be committed before their partition was released: an upper bound on the
	// duplicates a rebalance caused by this member.
	unsettled atomic.Int64
}

// New checks cfg (filling defaults), registers the metrics and returns a
// Consumer whose messages go to h. It does not connect; Run does.
func New(cfg Config, h Handler) (*Consumer, error) {
	if h == nil {
		return newConsumer(cfg, nil)
	}
	return newConsumer(cfg, Each(h))
}

// NewPartitioned is New for a handler that keeps state per partition, such
// as the first fragments of a record split over several messages.
func NewPartitioned(cfg Config, p Partitioner) (*Consumer, error) {
	return newConsumer(cfg, p)
}

func newConsumer(cfg Config, p Partitioner) (*Consumer, error) {
	var errs []error
	if p == nil {
		errs = append(errs, errors.New("kafka consumer: nil handler"))
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer, cfg.Topic)
	if err != nil {
		return nil, err
	}
	return &Consumer{
		cfg: cfg,
		p:   p,
		m:   m,
		log: cfg.Logger.With("source", "kafka", "topic", cfg.Topic, "group", cfg.Group),
	}, nil
}

// Ready reports whether the consumer is connected and in a group generation.
// It is false before the first generation and during broker outages; it stays
// true across an ordinary rebalance.
func (c *Consumer) Ready() bool { return c.ready.Load() }

func (c *Consumer) setReady(v bool) {
	if c.ready.Swap(v) != v {
		c.log.Info("kafka source readiness changed", "ready", v)
	}
	if c.cfg.Ready != nil {
		c.cfg.Ready(v)
	}
}

// Run consumes until ctx is done. On return the consumer has stopped reading,
// every handler call has returned, the handled offsets have been committed (or
// the commit failure counted) and the group has been left. It returns nil
// after ctx is done and an error only if the consumer cannot start.
//
// Run uses kafka-go's low-level ConsumerGroup and Generation rather than a
// kafka.Reader with a GroupID. The Reader hides the generation: it drops its
// prefetched messages and rejoins on its own, while messages it already
// returned may still be in the handler, and a later CommitMessages is sent
// with whatever generation is current (possibly for a partition another member
// now owns). It also reports one lag figure for all partitions. With a
// Generation each partition gets its own reader goroutine started by
// Generation.Start, the generation's end is the moment to drain and commit
// (ConsumerGroup does not rejoin until every Start function has returned), the
// commit names its generation explicitly, and each partition's high watermark
// gives its own lag.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("kafka consumer: Run is already running")
	}
	defer c.running.Store(false)
	c.setReady(false) // until the first generation

	transport := &kafka.Transport{ClientID: "fallbackwatch"}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Transport: transport, Timeout: c.requestTimeout()}

	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    c.cfg.Group,
		Brokers:               c.cfg.Brokers,
		Topics:                []string{c.cfg.Topic},
		HeartbeatInterval:     c.cfg.HeartbeatInterval,
		SessionTimeout:        c.cfg.SessionTimeout,
		RebalanceTimeout:      c.cfg.RebalanceTimeout,
		JoinGroupBackoff:      c.cfg.RetryBackoffMin,
		WatchPartitionChanges: true,
		StartOffset:           c.cfg.StartOffset,
		Timeout:               c.requestTimeout(),
		Logger:                c.kafkaLogger(slog.LevelDebug),
		ErrorLogger:           c.kafkaLogger(slog.LevelDebug),
	})
	if err != nil {
		return fmt.Errorf("kafka consumer group %q on topic %q: %w", c.cfg.Group, c.cfg.Topic, err)
	}
	defer c.setReady(false)

	failures := 0
	for {
		gen, err := cg.Next(ctx)
		switch {
		case err == nil:
			failures = 0
			c.setReady(true)
			c.startGeneration(gen, client)
			continue
		case ctx.Err() != nil:
		case errors.Is(err, kafka.RebalanceInProgress):
			// Not an outage: the coordinator throttles the next join.
			c.log.Debug("kafka group rebalance in progress", "err", err)
			continue
		default:
			c.setReady(false)
			failures++
			d := backoff(failures, c.cfg.RetryBackoffMin, c.cfg.RetryBackoffMax)
			c.log.Warn("kafka group unavailable, retrying", "err", err, "attempt", failures, "backoff", d)
			if sleep(ctx, d) {
				continue
			}
		}
		// ctx is done. Close ends the current generation, which waits for
		// the partition goroutines and commits, and then leaves the group.
		_ = cg.Close() // always nil
		return nil
	}
}

// requestTimeout bounds one request to the coordinator or a broker.
func (c *Consumer) requestTimeout() time.Duration {
	return max(5*time.Second, c.cfg.MaxWait+time.Second)
}

// partition is the state of one assigned partition within a generation.
type partition struct {
	id    int
	label string
	// next is the offset after the last handled message; negative (a
	// kafka.FirstOffset/LastOffset start) until the first one.
	next atomic.Int64
	// resume is the offset the handler says the partition must be read
	// again from: at most next. It is what gets committed.
	resume atomic.Int64
	// handled counts handler returns in this generation.
	handled atomic.Int64
	// hwm is the latest high watermark seen; first the log start offset;
	// both -1 until known.
	hwm, first atomic.Int64

	// Owned by the commit goroutine.
	committed        int64
	handledCommitted int64
}

func (c *Consumer) startGeneration(gen *kafka.Generation, client *kafka.Client) {
	assigned := gen.Assignments[c.cfg.Topic]
	parts := make([]*partition, 0, len(assigned))
	ids := make([]int, 0, len(assigned))
	var readers, lagger sync.WaitGroup
	for _, pa := range assigned {
		p := &partition{id: pa.ID, label: strconv.Itoa(pa.ID), committed: pa.Offset}
		p.next.Store(pa.Offset)
		p.resume.Store(pa.Offset)
		p.hwm.Store(-1)
		p.first.Store(-1)
		parts = append(parts, p)
		ids = append(ids, pa.ID)
		readers.Add(1)
		gen.Start(func(ctx context.Context) {
			defer readers.Done()
			c.readPartition(ctx, p, pa.Offset)
		})
	}
	c.log.Info("kafka group generation started", "generation", gen.ID, "member", gen.MemberID, "partitions", ids)
	if len(parts) > 0 {
		lagger.Add(1)
		gen.Start(func(ctx context.Context) {
			defer lagger.Done()
			c.lagLoop(ctx, client, parts)
		})
	}
	gen.Start(func(ctx context.Context) {
		c.commitLoop(ctx, gen, parts, &readers, &lagger)
	})
}

// readPartition fetches one partition from start and hands each message to
// the handler until the generation ends. It returns only then: a Start
// function that returns ends the generation for every partition.
func (c *Consumer) readPartition(ctx context.Context, p *partition, start int64) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        c.cfg.Brokers,
		Topic:          c.cfg.Topic,
		Partition:      p.id,
		MinBytes:       c.cfg.MinBytes,
		MaxBytes:       c.cfg.MaxBytes,
		MaxWait:        c.cfg.MaxWait,
		ReadBackoffMin: c.cfg.RetryBackoffMin,
		ReadBackoffMax: c.cfg.RetryBackoffMax,
		Logger:         c.kafkaLogger(slog.LevelDebug),
		ErrorLogger:    c.kafkaLogger(slog.LevelDebug),
	})
	defer func() {
		if err := r.Close(); err != nil {
			c.log.Debug("closing kafka partition reader", "partition", p.id, "err", err)
		}
	}()
	if err := r.SetOffset(start); err != nil {
		// Only fails on a started reader; this one is new.
		c.log.Error("setting kafka partition offset", "partition", p.id, "offset", start, "err", err)
	}
	gauge := c.m.lag.WithLabelValues(c.cfg.Topic, p.label)
	h := c.p(c.cfg.Topic, p.id)
	defer h.Close()
	failures := 0
	for {
		// FetchMessage may return a prefetched message even when ctx is
		// done; stop handling as soon as the generation ends.
		if ctx.Err() != nil {
			return
		}
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The reader retries with backoff itself and reports an error
			// after several failed attempts; wait before asking again so a
			// lasting failure does not spin. Readiness follows the group:
			// losing the coordinator ends the generation.
			failures++
			d := backoff(failures, c.cfg.RetryBackoffMin, c.cfg.RetryBackoffMax)
			c.log.Warn("reading kafka partition, retrying", "partition", p.id, "err", err, "attempt", failures, "backoff", d)
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		failures = 0
		resume := h.Handle(Message{
			Topic:     m.Topic,
			Partition: m.Partition,
			Offset:    m.Offset,
			Key:       m.Key,
			Value:     m.Value,
			Time:      m.Time,
			Headers:   m.Headers,
		})
		storeMax(&p.resume, min(resume, m.Offset+1))
		p.next.Store(m.Offset + 1)
		p.handled.Add(1)
		storeMax(&p.hwm, m.HighWaterMark)
		c.m.messages.Inc()
		c.setLag(p, gauge)
	}
}

// lagLoop refreshes the high watermarks of the assigned partitions, so lag
// keeps growing while the handler is stuck or no message arrives.
func (c *Consumer) lagLoop(ctx context.Context, client *kafka.Client, parts []*partition) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[c.cfg.Topic] = append(req.Topics[c.cfg.Topic], kafka.FirstOffsetOf(p.id), kafka.LastOffsetOf(p.id))
	}
	byID := make(map[int]*partition, len(parts))
	for _, p := range parts {
		byID[p.id] = p
	}
	interval := max(c.cfg.CommitInterval, time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, c.requestTimeout())
		resp, err := client.ListOffsets(rctx, req)
		cancel()
		if err != nil {
			c.log.Debug("listing kafka offsets for lag", "err", err)
		} else {
			for _, po := range resp.Topics[c.cfg.Topic] {
				p := byID[po.Partition]
				if p == nil || po.Error != nil {
					continue
				}
				p.first.Store(po.FirstOffset)
				storeMax(&p.hwm, po.LastOffset)
				c.setLag(p, c.m.lag.WithLabelValues(c.cfg.Topic, p.label))
			}
		}
		if !sleep(ctx, interval) {
			return
		}
	}
}

// setLag sets the high watermark minus the next offset to read.
func (c *Consumer) setLag(p *partition, g prometheus.Gauge) {
	hwm := p.hwm.Load()
	if hwm < 0 {
		return
	}
	next := p.next.Load()
	if next < 0 {
		if c.cfg.StartOffset == kafka.LastOffset {
			next = hwm
		} else if next = p.first.Load(); next < 0 {
			return
		}
	}
	g.Set(float64(max(hwm-next, 0)))
}

// commitLoop commits handled offsets every CommitInterval and, when the
// generation ends, waits for the partition readers (and so for the handler
// calls in flight), commits once more and drops the lag series of the
// released partitions.
func (c *Consumer) commitLoop(ctx context.Context, gen *kafka.Generation, parts []*partition, readers, lagger *sync.WaitGroup) {
	t := time.NewTicker(c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.commit(gen, parts, false)
		case <-ctx.Done():
			readers.Wait()
			lagger.Wait()
			c.commit(gen, parts, true)
			for _, p := range parts {
				c.m.lag.DeleteLabelValues(c.cfg.Topic, p.label)
			}
			c.log.Info("kafka group generation ended", "generation", gen.ID)
			return
		}
	}
}

func (c *Consumer) commit(gen *kafka.Generation, parts []*partition, final bool) {
	offsets := make(map[int]int64, len(parts))
	handled := make([]int64, len(parts))
	for i, p := range parts {
		// Load handled before next: a message finishing in between makes
		// the unsettled count an overestimate, never an underestimate.
		handled[i] = p.handled.Load()
		if resume := p.resume.Load(); resume >= 0 && resume > p.committed {
			offsets[p.id] = resume
		}
	}
	if len(offsets) == 0 {
		return
	}
	if err := gen.CommitOffsets(map[string]map[int]int64{c.cfg.Topic: offsets}); err != nil {
		c.m.commitErrors.Inc()
		if !final {
			c.log.Warn("committing kafka offsets, retrying at the next commit", "generation", gen.ID, "err", err)
			return
		}
		var n int64
		for _, p := range parts {
			n += p.handled.Load() - p.handledCommitted
		}
		c.unsettled.Add(n)
		c.log.Warn("committing kafka offsets at the end of a generation; handled messages may be delivered again",
			"generation", gen.ID, "messages", n, "err", err)
		return
	}
	for i, p := range parts {
		if next, ok := offsets[p.id]; ok {
			p.committed = next
			p.handledCommitted = handled[i]
		}
	}
}

func (c *Consumer) kafkaLogger(level slog.Level) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		if c.log.Enabled(context.Background(), level) {
			c.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
		}
	})
}

// storeMax raises v to n if n is larger.
func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// backoff is the delay before retry number attempt (1, 2, …): min doubled per
// attempt up to max, with jitter in its upper half.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if half := d / 2; half > 0 {
		d = half + rand.N(half+1)
	}
	return d
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
