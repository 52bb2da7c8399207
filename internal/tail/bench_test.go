package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkRead measures reading and splitting a file of 1.1 KB lines through read, with a
// handler that does nothing.
//
//	go test ./internal/tail -run '^$' -bench Read -count 6 | tee new.txt; benchstat old.txt new.txt
func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "a.log")
	line := `{"start_time":"2024-05-06T08:15:01.101Z",` + strings.Repeat(`"k":"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",`, 22) + `"x":1}` + "\n"
	data := []byte(strings.Repeat(line, 16<<20/len(line)))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	tl, err := New(Config{Patterns: []string{path}}, nopHandler{})
	if err != nil {
		b.Fatal(err)
	}
	tl.open(path, false)
	f := tl.files[0]
	defer f.fd.Close()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		tl.restart(f, 0, 0)
		for {
			eof, err := tl.read(f, readBudget)
			if err != nil {
				b.Fatal(err)
			}
			if eof {
				break
			}
		}
	}
}

type nopHandler struct{}

func (nopHandler) Open(string) LineFunc       { return func([]byte, int64) bool { return true } }
func (nopHandler) TooLong(string, int64, int) {}
func (nopHandler) Close(string)               {}
