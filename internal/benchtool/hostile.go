package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// unknownFields are nested values under keys fallbackwatch does not read, as filters and
// custom log formats add them: objects and arrays several levels deep, with strings that hold
// braces, brackets, quotes and key-like text a scanner must not mistake for structure.
var unknownFields = []struct {
	key   string
	value string
}{
	{"x_request_meta", `{"labels":{"app":"reviews","tier":"b\"ack}end"},"hops":[1,2.5,-3e2,true,null,{"deep":[[],{}]}]}`},
	{"filter_state", `{"istio.peer":{"labels":["a:b","c,d"],"note":"{\"fallback_result\":\"not a key\"}"},"n":0}`},
	{"upstream_metadata", `[{"response_code":"500","route_name":"decoy"},["{","}","[","]"],""]`},
}

// runHostile writes the second corpus: every line of -corpus re-serialized with its keys in a
// random order, random whitespace between tokens, some characters of string values written as
// \uXXXX or \/ escapes (keys stay plain), and two of unknownFields inserted at random places. The records mean
// the same as the input's, so a replay of both does the same work and must give the same counts.
func runHostile(args []string) error {
	fs := flag.NewFlagSet("hostile", flag.ContinueOnError)
	corpusPath := fs.String("corpus", "", "access-log file to rewrite")
	out := fs.String("out", "", "file to write")
	seed := fs.Uint64("seed", 7, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in, err := os.Open(*corpusPath)
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	defer in.Close()
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("hostile corpus: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(*seed, 1))
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line, err := hostileLine(rng, sc.Bytes())
		if err != nil {
			f.Close()
			return fmt.Errorf("%s line %d: %w", *corpusPath, n, err)
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return fmt.Errorf("reading %s: %w", *corpusPath, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	fmt.Printf("lines=%d\n", n)
	return nil
}

// hostileLine rewrites one JSON object line; see runHostile.
func hostileLine(rng *rand.Rand, line []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	keys := make([]string, 0, len(obj)+2)
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // map order is random; the seed decides
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	extra := rng.Perm(len(unknownFields))[:2]
	for _, e := range extra {
		u := unknownFields[e]
		if _, ok := obj[u.key]; ok {
			return nil, fmt.Errorf("line already has key %q", u.key)
		}
		obj[u.key] = json.RawMessage(u.value)
		at := rng.IntN(len(keys) + 1)
		keys = slices.Insert(keys, at, u.key)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(space(rng))
			b.WriteByte(',')
		}
		b.WriteString(space(rng))
		writeString(&b, nil, k)
		b.WriteString(space(rng))
		b.WriteByte(':')
		b.WriteString(space(rng))
		if err := writeValue(&b, rng, obj[k]); err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
	}
	b.WriteString(space(rng))
	b.WriteByte('}')
	return b.Bytes(), nil
}

var spaces = []string{"", "", "", " ", "  ", "\t", " \t "}

func space(rng *rand.Rand) string { return spaces[rng.IntN(len(spaces))] }

// writeValue writes v with random whitespace inside objects and arrays and re-escaped strings;
// numbers, booleans and null as they are.
func writeValue(b *bytes.Buffer, rng *rand.Rand, v json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return err
	}
	write(b, rng, x)
	return nil
}

func write(b *bytes.Buffer, rng *rand.Rand, x any) {
	switch x := x.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(space(rng))
			writeString(b, nil, k)
			b.WriteString(space(rng) + ":" + space(rng))
			write(b, rng, x[k])
		}
		b.WriteString(space(rng) + "}")
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(space(rng) + ",")
			}
			b.WriteString(space(rng))
			write(b, rng, e)
		}
		b.WriteString(space(rng) + "]")
	case string:
		writeString(b, rng, x)
	case json.Number:
		b.WriteString(x.String())
	case bool:
		fmt.Fprint(b, x)
	case nil:
		b.WriteString("null")
	}
}

// writeString writes s as a JSON string. With rng, about one letter, digit or slash in twenty is
// escaped although it need not be (as log shippers write `\/`); keys are written with rng nil,
// plain, as Envoy and the shippers write them.
func writeString(b *bytes.Buffer, rng *rand.Rand, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case rng == nil && r != '"' && r != '\\' && r >= 0x20:
			b.WriteRune(r)
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		case r == '/' && rng.IntN(20) == 0:
			b.WriteString(`\/`)
		case r < utf8.RuneSelf && strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", r) && rng.IntN(20) == 0:
			fmt.Fprintf(b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
