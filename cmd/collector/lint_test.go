package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	seedDR      = "testdata/bookinfo/destinationrule.yaml"
	seedSample1 = "testdata/bookinfo/sample1.yaml"
	seedSample2 = "testdata/bookinfo/sample2.yaml"
)

func TestLintExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"clean", []string{"lint", "--routing", seedDR, "--routing", seedSample1}, 0, []string{"SUCCESS"}, nil},
		{"R17 warning", []string{"lint", "--routing", seedDR, "--routing", seedSample2}, 3,
			[]string{"testdata/bookinfo/sample2.yaml:15: warning: virtualservice default/reviews-route spec.http[0].route[0].fallback.target:", "one hop", "(R17, fallback-chain)"},
			[]string{"0 error(s), 1 warning(s)"}},
		{"errors", []string{"lint", "--routing", "routing/testdata/semantics.bad.yaml"}, 3,
			[]string{"semantics.bad.yaml:14: error:", "(R6, weight-sum-zero)", "(R5, subset-undefined)", "(R3, fallback-self)", "(R12, fallback-ambiguous)"},
			[]string{"6 error(s), 0 warning(s)"}},
		{"positional paths", []string{"lint", seedDR, seedSample1}, 0, []string{"SUCCESS"}, nil},
		{"unreadable: located errors", []string{"lint", "--routing", "routing/testdata/unknown-field.bad.yaml"}, 1, nil,
			[]string{`routing/testdata/unknown-field.bad.yaml:12:7: error: virtualservice default/reviews-route spec.http[0].route[1].wieght: unknown field "wieght"`,
				"fallback.timeout", "cannot be read: 2 error(s)"}},
		{"invalid YAML", []string{"lint", "--routing", "routing/testdata/invalid-yaml.bad.yaml"}, 1, nil, []string{"invalid-yaml.bad.yaml:5: error: invalid YAML"}},
		{"missing file", []string{"lint", "--routing", "nope.yaml"}, 1, nil, []string{"nope.yaml"}},
		{"no paths", []string{"lint"}, 2, nil, []string{"--routing"}},
		{"bad format", []string{"lint", "--format", "xml", "--routing", seedDR}, 2, nil, []string{"--format"}},
		{"bad flag", []string{"lint", "--frobnicate"}, 2, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runBinary(t, "", tc.args...)
			require.Equal(t, tc.code, code, "stdout %s\nstderr %s", stdout, stderr)
			for _, s := range tc.stdout {
				require.Contains(t, stdout, s)
			}
			for _, s := range tc.stderr {
				require.Contains(t, stderr, s)
			}
		})
	}
}

func TestLintJSON(t *testing.T) {
	stdout, _, code := runBinary(t, "", "lint", "--format", "json", "--routing", "routing/testdata/warnings.bad.yaml")
	require.Equal(t, 3, code)
	var out struct {
		Findings []struct {
			Severity, Code, Rule, File, Resource, Path, Message string
			Line                                                int
		}
		Errors, Warnings int
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &out))
	require.Equal(t, 0, out.Errors)
	require.Equal(t, 6, out.Warnings)
	codes := []string{}
	for _, f := range out.Findings {
		require.Equal(t, "warning", f.Severity)
		require.Equal(t, "routing/testdata/warnings.bad.yaml", f.File)
		codes = append(codes, f.Code)
	}
	require.Equal(t, "fallback-chain,fallback-cross-host,fallback-missing,duplicate-match,fallback-case,unreachable-route", strings.Join(codes, ","))

	stdout, _, code = runBinary(t, "", "lint", "--format", "json", "--routing", seedDR, "--routing", seedSample1)
	require.Equal(t, 0, code)
	require.JSONEq(t, `{"findings":[],"errors":0,"warnings":0}`, stdout)
}
