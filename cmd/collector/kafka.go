package main

import (
	"container/list"
	"errors"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/internal/kafkasrc"
	"github.com/fallbackwatch/fallbackwatch/internal/pipeline"
	"github.com/fallbackwatch/fallbackwatch/parse"
)

// Bounds of the partial-line state of one Kafka partition.
const (
	// defaultKafkaChains is how many producers (pods) may have a line open at once in one
	// partition; past it the oldest open line is given up and counted.
	defaultKafkaChains = 256
	// defaultKafkaHeld bounds the bytes of the messages that open lines hold in one partition
	// (at least two whole lines at --max-line-bytes); past it the oldest open line is given up
	// and counted.
	defaultKafkaHeld = 16 << 20
	// defaultKafkaSpan is how many messages an open line may stay open for; past it the line is
	// given up and counted, so a producer that died mid-line cannot hold the committed offset
	// back for ever. It also bounds the messages a rebalance delivers twice.
	defaultKafkaSpan = 10000
	// freeStreams is how many idle streams a partition keeps for the next open line.
	freeStreams = 8
)

// kafkaHandler frames Kafka messages. A partition carries the lines of many producers, so the
// partial-line state is kept per producer, not per partition: the message key when there is one,
// else the pod, container and stream named by the message's envelope (Fluent Bit's and Vector's
// Kubernetes metadata). A message with neither is self-contained: a partial line it leaves open
// is counted as unterminated_partial, never continued by another message. The format is detected
// per message. The offset handed back for commit is the first message of the oldest line still
// open, so nothing counted late is lost to a restart or a rebalance.
type kafkaHandler struct {
	p        *pipeline.Pipeline
	maxLine  int
	envelope bool // messages are JSON envelopes (--kafka.envelope-field)
	maxOpen  int
	maxSpan  int64
	maxHeld  int
}

func newKafkaHandler(p *pipeline.Pipeline, maxLine int, envelopeField string) *kafkaHandler {
	if maxLine <= 0 {
		maxLine = parse.DefaultMaxLine
	}
	return &kafkaHandler{p: p, maxLine: maxLine, envelope: envelopeField != "",
		maxOpen: defaultKafkaChains, maxSpan: defaultKafkaSpan, maxHeld: max(defaultKafkaHeld, 2*maxLine)}
}

// partition is a kafkasrc.Partitioner.
func (h *kafkaHandler) partition(string, int) kafkasrc.PartitionHandler {
	return &kafkaPartition{h: h, chains: map[string]*list.Element{}}
}

// kafkaPartition is the state of one partition within one group generation. The consumer calls
// it from one goroutine.
type kafkaPartition struct {
	h      *kafkaHandler
	idle   *pipeline.Stream         // frames messages that continue no open line
	chains map[string]*list.Element // producer key -> element of open, holding *openLine
	open   list.List                // open lines, oldest first line first
	held   int                      // bytes of the messages of the open lines
	free   []*pipeline.Stream
}

// openLine is a producer's line that began in a message and is not finished yet.
type openLine struct {
	key   string
	first int64 // offset of the message holding its first fragment
	bytes int   // of the messages it spans: an upper bound of what its stream holds
	st    *pipeline.Stream
}

func (kp *kafkaPartition) stream() *pipeline.Stream {
	if n := len(kp.free); n > 0 {
		st := kp.free[n-1]
		kp.free = kp.free[:n-1]
		return st
	}
	return kp.h.p.NewStream(pipeline.SourceKafka, aggregate.Source{})
}

func (kp *kafkaPartition) release(st *pipeline.Stream) {
	if len(kp.free) < freeStreams {
		kp.free = append(kp.free, st)
	}
}

// Handle frames one message and returns the offset up to which every record is counted.
func (kp *kafkaPartition) Handle(m kafkasrc.Message) int64 {
	if kp.idle == nil {
		kp.idle = kp.stream()
	}
	key := kp.key(m)
	var el *list.Element
	if key != "" {
		el = kp.chains[key]
	}
	st := kp.idle
	if el != nil {
		st = el.Value.(*openLine).st
	}
	safe := el == nil // an open line stays open through a message without lines
	for rest := m.Value; len(rest) > 0; {
		var line []byte
		var err error
		line, rest, err = parse.NextLine(rest, kp.h.maxLine)
		var pe *parse.Error
		if errors.As(err, &pe) {
			st.TooLong()
			continue
		}
		safe = st.Line(line)
	}
	switch {
	case key == "" || el == nil && safe:
		// Self-contained, or nothing left open: count what is unterminated, detect the next
		// message's format afresh.
		st.End()
	case el == nil:
		// The message leaves a line open: the idle stream now belongs to its producer.
		kp.chains[key] = kp.open.PushBack(&openLine{key: key, first: m.Offset, bytes: len(m.Value), st: st})
		kp.held += len(m.Value)
		kp.idle = kp.stream()
	case safe:
		kp.close(el)
	default:
		el.Value.(*openLine).bytes += len(m.Value)
		kp.held += len(m.Value)
	}
	for kp.open.Len() > 0 {
		oldest := kp.open.Front().Value.(*openLine)
		if kp.open.Len() <= kp.h.maxOpen && m.Offset-oldest.first < kp.h.maxSpan && kp.held <= kp.h.maxHeld {
			break
		}
		kp.close(kp.open.Front()) // given up: counted as unterminated_partial
	}
	if kp.open.Len() > 0 {
		return kp.open.Front().Value.(*openLine).first
	}
	return m.Offset + 1
}

// close forgets an open line: when it is still unfinished (given up) End counts it, otherwise
// End only resets the format.
func (kp *kafkaPartition) close(el *list.Element) {
	ol := kp.open.Remove(el).(*openLine)
	delete(kp.chains, ol.key)
	kp.held -= ol.bytes
	ol.st.End()
	kp.release(ol.st)
}

// Close drops the open lines without counting them: their first messages are not committed, so
// whoever reads the partition next reads them again.
func (kp *kafkaPartition) Close() {
	kp.chains, kp.free, kp.idle, kp.held = nil, nil, nil, 0
	kp.open.Init()
}

// key names the producer of a message: its Kafka key, or the pod, container and stream of its
// envelope; "" when it names none.
func (kp *kafkaPartition) key(m kafkasrc.Message) string {
	if len(m.Key) > 0 {
		return "k\x00" + string(m.Key)
	}
	if !kp.h.envelope {
		return ""
	}
	first, _, _ := parse.NextLine(m.Value, 0)
	meta := parse.EnvelopeMeta(first)
	if meta.Pod == "" {
		return ""
	}
	return "e\x00" + meta.Namespace + "\x00" + meta.Pod + "\x00" + meta.Container + "\x00" + meta.Stream
}
