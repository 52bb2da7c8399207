// Command benchtool holds the measuring parts of scripts/bench.sh that a shell script cannot do
// precisely: a Kafka broker (kfake) preloaded with access-log messages, a wait for a counter on a
// collector's /metrics, and a tail-latency probe that appends to a followed file at a fixed rate
// and times marker lines until they show in /metrics.
//
//	benchtool kafka  -corpus FILE -n 200000 -partitions 3 -topic T -addr-file PATH
//	benchtool wait   -url http://127.0.0.1:PORT/metrics -series 'NAME{labels}' -target N
//	benchtool tail   -corpus FILE -out FILE -url http://127.0.0.1:PORT/metrics -rate 50000 -duration 10s
//	benchtool hostile -corpus FILE -out FILE
//
// hostile writes the second corpus: the same records with keys in random order, whitespace,
// escapes and nested unknown fields.
//
// Every subcommand prints one line of `key=value` results on stdout; progress goes to stderr.
// Servers listen on 127.0.0.1 only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool kafka|wait|tail|hostile [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "kafka":
		err = runKafka(ctx, os.Args[2:])
	case "wait":
		err = runWait(ctx, os.Args[2:])
	case "tail":
		err = runTail(ctx, os.Args[2:])
	case "hostile":
		err = runHostile(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: want kafka, wait, tail or hostile", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// readLines returns up to max lines of the file, without newlines.
func readLines(path string, max int) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lines [][]byte
	for len(lines) < max && sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading corpus %q: %w", path, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("corpus %q is empty", path)
	}
	return lines, nil
}

// runKafka starts a one-broker kfake cluster on 127.0.0.1 with a topic of the given partition
// count, produces n messages (one corpus line each, round-robin over the partitions), writes the
// broker address to addr-file and serves until it is signalled.
func runKafka(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kafka", flag.ContinueOnError)
	corpusPath := fs.String("corpus", "", "access-log file whose lines become the messages")
	n := fs.Int("n", 200000, "messages to produce")
	parts := fs.Int("partitions", 3, "partitions of the topic")
	topic := fs.String("topic", "istio-proxy-access", "topic name")
	addrFile := fs.String("addr-file", "", "file to write the broker address to once the messages are in")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lines, err := readLines(*corpusPath, min(*n, 100000))
	if err != nil {
		return err
	}
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(int32(*parts), *topic))
	if err != nil {
		return fmt.Errorf("starting kfake: %w", err)
	}
	defer kf.Close()
	addrs := kf.ListenAddrs()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(20000))
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	start := time.Now()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		bytesOut int64
	)
	for i := 0; i < *n; i++ {
		v := lines[i%len(lines)]
		bytesOut += int64(len(v))
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: *topic, Partition: int32(i % *parts), Value: v}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	cl.Close()
	if firstErr != nil {
		return fmt.Errorf("producing to %s: %w", *topic, firstErr)
	}
	el := time.Since(start)
	fmt.Fprintf(os.Stderr, "benchtool kafka: produced %d messages (%.1f MB, avg %d B) to %d partitions in %s\n",
		*n, float64(bytesOut)/1e6, bytesOut/int64(*n), *parts, el.Round(time.Millisecond))
	if *addrFile != "" {
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(strings.Join(addrs, ",")+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing broker address: %w", err)
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			return fmt.Errorf("writing broker address: %w", err)
		}
	}
	fmt.Printf("brokers=%s messages=%d bytes=%d produce_seconds=%.3f\n", strings.Join(addrs, ","), *n, bytesOut, el.Seconds())
	<-ctx.Done()
	return nil
}

// scrape fetches the metrics page.
func scrape(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// seriesValue returns the value of the series written exactly as series (name and labels as
// the text exposition prints them), and whether it is present.
func seriesValue(page []byte, series string) (float64, bool) {
	for line := range bytes.Lines(page) {
		rest, ok := bytes.CutPrefix(line, []byte(series))
		if !ok || len(rest) == 0 || rest[0] != ' ' {
			continue
		}
		fields := strings.Fields(string(rest))
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		return v, true
	}
	return 0, false
}

// runWait polls a series until it reaches target and reports how long that took from the start
// of the wait and from the first non-zero value.
func runWait(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	url := fs.String("url", "", "metrics URL")
	series := fs.String("series", "", `series as exposed, e.g. fallbackwatch_records_accepted_total{source="kafka"}`)
	target := fs.Float64("target", 0, "value to wait for")
	interval := fs.Duration("interval", 20*time.Millisecond, "poll interval")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := &http.Client{Timeout: 5 * time.Second}
	var first time.Time
	var firstVal, last float64
	for {
		page, err := scrape(ctx, c, *url)
		now := time.Now()
		if err == nil {
			v, ok := seriesValue(page, *series)
			if ok && v > 0 && first.IsZero() {
				first, firstVal = now, v
			}
			last = v
			if ok && v >= *target {
				total := now.Sub(start).Seconds()
				steady := now.Sub(first).Seconds()
				rate := 0.0
				if steady > 0 {
					rate = (v - firstVal) / steady
				}
				// The collector's own CPU time makes the rate comparable across machine loads.
				cpu, _ := seriesValue(page, "process_cpu_seconds_total")
				perCPU := 0.0
				if cpu > 0 {
					perCPU = v / cpu
				}
				fmt.Printf("value=%.0f total_seconds=%.3f first_seen_seconds=%.3f steady_seconds=%.3f steady_per_second=%.0f end_to_end_per_second=%.0f cpu_seconds=%.2f per_cpu_second=%.0f\n",
					v, total, first.Sub(start).Seconds(), steady, rate, v/total, cpu, perCPU)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s reached %.0f of %.0f in %s (last error: %v)", *series, last, *target, time.Since(start).Round(time.Millisecond), err)
		case <-time.After(*interval):
		}
	}
}

// markerLine returns line with its route_name value replaced by name.
func markerLine(line []byte, name string) ([]byte, error) {
	key := []byte(`"route_name":"`)
	i := bytes.Index(line, key)
	if i < 0 {
		return nil, errors.New("corpus line has no route_name string")
	}
	j := bytes.IndexByte(line[i+len(key):], '"')
	if j < 0 {
		return nil, errors.New("corpus line has an unterminated route_name")
	}
	out := append([]byte(nil), line[:i+len(key)]...)
	out = append(out, name...)
	return append(out, line[i+len(key)+j:]...), nil
}

// runTail appends corpus lines to out at rate lines/s for duration, every marker interval one
// line whose route_name is marker-N, while polling url; a marker's latency is the time from its
// append returning to the first scrape that shows route="marker-N".
func runTail(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	corpusPath := fs.String("corpus", "", "access-log file whose lines are appended")
	out := fs.String("out", "", "followed file to append to")
	url := fs.String("url", "", "metrics URL of the collector following out")
	rate := fs.Int("rate", 50000, "lines per second")
	duration := fs.Duration("duration", 10*time.Second, "how long to write")
	markerEvery := fs.Duration("marker-interval", 100*time.Millisecond, "time between marker lines")
	poll := fs.Duration("poll", 10*time.Millisecond, "metrics poll interval")
	settle := fs.Duration("settle", 10*time.Second, "how long to wait for the last markers after writing stops")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lines, err := readLines(*corpusPath, 50000)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening followed file: %w", err)
	}
	defer f.Close()

	type marker struct {
		name     string
		appended time.Time
		seen     time.Duration
	}
	var (
		mu      sync.Mutex
		markers []*marker
		pending []*marker
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pollerDone := make(chan struct{})
	writing := make(chan struct{})
	go func() {
		defer close(pollerDone)
		c := &http.Client{Timeout: 5 * time.Second}
		var deadline <-chan time.Time
		for {
			page, err := scrape(ctx, c, *url)
			now := time.Now()
			if err == nil {
				mu.Lock()
				keep := pending[:0]
				for _, m := range pending {
					if bytes.Contains(page, []byte(`route="`+m.name+`"`)) {
						m.seen = now.Sub(m.appended)
					} else {
						keep = append(keep, m)
					}
				}
				pending = keep
				left := len(pending)
				mu.Unlock()
				if deadline != nil && left == 0 {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-writing:
				writing = nil
				deadline = time.After(*settle)
			case <-deadline:
				return
			case <-time.After(*poll):
			}
		}
	}()

	const tick = 10 * time.Millisecond
	start := time.Now()
	nextMarker := start
	written, next := 0, 0
	var buf []byte
	var bytesOut int64
	for now := start; now.Sub(start) < *duration; now = time.Now() {
		due := int(now.Sub(start).Seconds() * float64(*rate))
		buf = buf[:0]
		for ; written < due; written++ {
			buf = append(buf, lines[next%len(lines)]...)
			buf = append(buf, '\n')
			next++
		}
		if len(buf) > 0 {
			if _, err := f.Write(buf); err != nil {
				return fmt.Errorf("appending to %s: %w", *out, err)
			}
			bytesOut += int64(len(buf))
		}
		if !now.Before(nextMarker) {
			m := &marker{name: "marker-" + strconv.Itoa(len(markers))}
			ml, err := markerLine(lines[next%len(lines)], m.name)
			if err != nil {
				return err
			}
			next++
			written++
			if _, err := f.Write(append(ml, '\n')); err != nil {
				return fmt.Errorf("appending to %s: %w", *out, err)
			}
			m.appended = time.Now()
			mu.Lock()
			markers = append(markers, m)
			pending = append(pending, m)
			mu.Unlock()
			nextMarker = nextMarker.Add(*markerEvery)
		}
		time.Sleep(tick)
	}
	elapsed := time.Since(start)
	close(writing)
	<-pollerDone

	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for _, m := range markers {
		if m.seen > 0 {
			lat = append(lat, m.seen)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return -1
		}
		i := int(p*float64(len(lat))+0.5) - 1
		i = max(0, min(i, len(lat)-1))
		return lat[i].Seconds()
	}
	within1s := 0
	for _, l := range lat {
		if l <= time.Second {
			within1s++
		}
	}
	fmt.Printf("lines=%d seconds=%.2f lines_per_second=%.0f mb_per_second=%.1f markers=%d seen=%d within_1s=%d p50_seconds=%.3f p99_seconds=%.3f max_seconds=%.3f\n",
		written, elapsed.Seconds(), float64(written)/elapsed.Seconds(), float64(bytesOut)/1e6/elapsed.Seconds(),
		len(markers), len(lat), within1s, pct(0.50), pct(0.99), pct(1.0))
	return nil
}
