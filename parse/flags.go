package parse

import (
	"bytes"
	"fmt"
	"math/bits"
	"strings"
)

// Flag is one Envoy response flag (R21).
type Flag uint8

// Envoy response flags, in the order of R21.
const (
	FlagUH Flag = iota
	FlagUF
	FlagUO
	FlagNR
	FlagURX
	FlagNC
	FlagDT
	FlagDC
	FlagLH
	FlagUT
	FlagLR
	FlagUR
	FlagUC
	FlagDI
	FlagFI
	FlagRL
	FlagUAEX
	FlagRLSE
	FlagIH
	FlagSI
	FlagDPE
	FlagUPE
	FlagUMSDR
	FlagRFCF
	FlagNFCF
	FlagOM
	FlagDF
	FlagDO
	FlagDR
	FlagUDO
	numFlags
)

var flagNames = [numFlags]string{
	"UH", "UF", "UO", "NR", "URX", "NC", "DT", "DC", "LH", "UT", "LR", "UR", "UC", "DI", "FI", "RL",
	"UAEX", "RLSE", "IH", "SI", "DPE", "UPE", "UMSDR", "RFCF", "NFCF", "OM", "DF", "DO", "DR", "UDO",
}

// String returns the flag's code, e.g. "UH".
func (f Flag) String() string {
	if f < numFlags {
		return flagNames[f]
	}
	return fmt.Sprintf("Flag(%d)", uint8(f))
}

// Flags is a set of response flags. The zero value is the empty set (Envoy's "-").
type Flags uint32

// Has reports whether f is in the set.
func (s Flags) Has(f Flag) bool { return s&(1<<f) != 0 }

// With returns the set with f added.
func (s Flags) With(f Flag) Flags { return s | 1<<f }

// Len returns the number of flags in the set.
func (s Flags) Len() int { return bits.OnesCount32(uint32(s)) }

// String joins the codes with ',' in R21 order, or returns "-" for the empty set, as Envoy does.
func (s Flags) String() string {
	if s == 0 {
		return "-"
	}
	var b strings.Builder
	for f := Flag(0); f < numFlags; f++ {
		if s.Has(f) {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(flagNames[f])
		}
	}
	return b.String()
}

// LookupFlag returns the flag with the given code.
func LookupFlag(code []byte) (Flag, bool) {
	for f := Flag(0); f < numFlags; f++ {
		if string(code) == flagNames[f] {
			return f, true
		}
	}
	return 0, false
}

// ParseFlags decodes a response_flags value: nil, empty and "-" are the empty set; otherwise
// comma-separated codes (R21). An unknown code is an error naming it; the returned set still
// holds every known code of b.
func ParseFlags(b []byte) (Flags, error) {
	if len(b) == 0 || (len(b) == 1 && b[0] == '-') {
		return 0, nil
	}
	var s Flags
	var err error
	for len(b) > 0 {
		code := b
		if i := bytes.IndexByte(b, ','); i >= 0 {
			code, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		f, ok := LookupFlag(code)
		if !ok {
			if err == nil {
				err = fmt.Errorf("unknown response flag %q", truncate(code))
			}
			continue
		}
		s = s.With(f)
	}
	return s, err
}
