// Package e2e builds the Go examples and fixtures of the repository into
// components with the build command and runs them through a Weir runtime:
// the word count, the conformance job, every misbehave mode and a soak of
// thousands of batches through one instance under a 64 MiB memory limit.
//
// It needs a built runtime and the component tools, so it runs only when
// WEIR_BIN names the weir binary:
//
//	WEIR_BIN=target/release/weir go test ./internal/e2e
package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	repo = filepath.Join("..", "..", "..", "..")

	buildOnce  sync.Once
	buildDir   string
	buildError error
	components = map[string]string{
		"tokenize":  "examples/go/tokenize",
		"conform":   "tests/fixtures/go/conform",
		"misbehave": "tests/fixtures/go/misbehave",
	}
)

func weirBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("WEIR_BIN")
	if bin == "" {
		t.Skip("WEIR_BIN is not set: these tests run Go components through a built weir binary")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestMain keeps the components in a directory of its own, removed at the
// end.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// component builds (once for all tests) the component called name and
// returns its path.
func component(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildError = os.MkdirTemp("", "weir-go-e2e-")
		if buildError != nil {
			return
		}
		tool := filepath.Join(buildDir, "weir-go")
		out, err := exec.Command("go", "build", "-o", tool, "weir.dev/operator/cmd/weir-go").CombinedOutput()
		if err != nil {
			buildError = &buildFailure{"building weir-go", out, err}
			return
		}
		for name, dir := range components {
			cmd := exec.Command(tool, "build", filepath.Join(repo, dir), "-o", filepath.Join(buildDir, name+".wasm"))
			if out, err := cmd.CombinedOutput(); err != nil {
				buildError = &buildFailure{"building " + dir, out, err}
				return
			}
		}
	})
	if buildError != nil {
		t.Fatal(buildError)
	}
	return filepath.Join(buildDir, name+".wasm")
}

type buildFailure struct {
	what string
	out  []byte
	err  error
}

func (b *buildFailure) Error() string { return b.what + ": " + b.err.Error() + "\n" + string(b.out) }

// run runs a job spec written to a scratch directory; it returns stdout,
// stderr and the exit code.
func run(t *testing.T, spec string, args ...string) (string, string, int) {
	t.Helper()
	weir := weirBin(t)
	dir := t.TempDir()
	job := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(job, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	// The job reads inputs of the repository, outside its scratch directory.
	cmd := exec.Command(weir, append(append([]string{"run", "--cache-dir", filepath.Join(buildDir, "cache"), "--allowed-path", repo}, args...), job)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func abs(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(repo, rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWordCount(t *testing.T) {
	weirBin(t)
	spec, err := os.ReadFile(filepath.Join(repo, "examples/go/tokenize/job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(spec), "path: input.txt", "path: "+abs(t, "examples/go/tokenize/input.txt"), 1)
	text = strings.Replace(text, "module: tokenize.wasm", "module: "+component(t, "tokenize"), 1)
	stdout, stderr, code := run(t, text)
	want, _ := os.ReadFile(filepath.Join(repo, "examples/wordcount/expected.txt"))
	if code != 0 || stdout != string(want) {
		t.Errorf("exit %d, stderr:\n%s\nstdout differs from expected.txt:\n%s", code, stderr, stdout)
	}
}

func conformanceSpec(t *testing.T, config string) string {
	spec, err := os.ReadFile(filepath.Join(repo, "tests/conformance/job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(spec), "MODULE", component(t, "conform"), 1)
	text = strings.Replace(text, "path: input.jsonl", "path: "+abs(t, "tests/conformance/input.jsonl"), 1)
	if config != "" {
		text = strings.Replace(text, "      prefix: \"t:\"\n", "      prefix: \"t:\"\n"+config, 1)
	}
	return text
}

func TestConformance(t *testing.T) {
	weirBin(t)
	want, err := os.ReadFile(filepath.Join(repo, "tests/conformance/expected.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, conformanceSpec(t, ""))
	if code != 0 || stdout != string(want) {
		t.Errorf("exit %d, stderr:\n%s\nstdout differs from expected.jsonl:\n%s", code, stderr, stdout)
	}
}

func TestGuestErrorsReachTheUser(t *testing.T) {
	weirBin(t)
	_, stderr, code := run(t, conformanceSpec(t, "      failOnId: 8\n"))
	if code != 1 || !strings.Contains(stderr, "invalid-input error: conform: rejected record with id 8") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = run(t, conformanceSpec(t, "      colour: red\n"))
	if code != 1 || !strings.Contains(stderr, "invalid-config error") || !strings.Contains(stderr, "colour") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

func misbehaveSpec(t *testing.T, config string) string {
	return `name: misbehave
batchSize: 2
source: {type: generator, count: 20}
operators:
  - name: probe
    module: ` + component(t, "misbehave") + `
    config: ` + config + `
    resources: {memory: 64Mi, callTimeout: 1s}
sink: {type: blackhole}
`
}

func TestMisbehave(t *testing.T) {
	weirBin(t)
	for _, tc := range []struct {
		config string
		code   int
		want   []string
	}{
		{`{mode: passthrough}`, 0, []string{"misbehave: first batch", "rows_seen = 20"}},
		{`{mode: loop, afterBatches: 2}`, 1, []string{"operator 'probe' exceeded its deadline of 1000 ms in process"}},
		{`{mode: memory-bomb}`, 1, []string{"operator 'probe' exceeded its memory limit of 67108864 bytes in process"}},
		{`{mode: recurse}`, 1, []string{"operator 'probe' trapped in process"}},
		{`{mode: trap, afterBatches: 1}`, 1, []string{"operator 'probe' trapped in process", "panic: misbehave: deliberate panic"}},
		{`{mode: error, afterBatches: 3}`, 1, []string{"operator 'probe' failed in process: invalid-input error: misbehave: deliberate error on batch 3"}},
		{`{mode: garbage}`, 1, []string{"operator 'probe' returned a malformed batch from process"}},
		{`{mode: open-error}`, 1, []string{"operator 'probe' failed in open: invalid-config error: misbehave: deliberate open failure"}},
		{`{mode: state}`, 1, []string{"failed in process: host error: value state `counts`: unavailable: "}},
		{`{mode: juggle}`, 1, []string{"invalid-config error: misbehave: unknown mode `juggle`; valid modes: passthrough, loop"}},
		{`{}`, 1, []string{"invalid-config error: misbehave: config needs a `mode`"}},
	} {
		t.Run(tc.config, func(t *testing.T) {
			_, stderr, code := run(t, misbehaveSpec(t, tc.config))
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestSoak sends 4000 batches through one instance under a 64 MiB limit.
// Without the SDK's collections at call boundaries, garbage accumulates until
// the runtime recycles the instance (the summary counts it), and with Go's
// automatic collector the instance traps; so the test requires no recycle
// and a small peak.
func TestSoak(t *testing.T) {
	weirBin(t)
	spec := `name: soak
batchSize: 250
source: {type: generator, count: 1000000}
operators:
  - name: pass
    module: ` + component(t, "misbehave") + `
    # error mode after a million batches: a pass-through that never logs
    config: {mode: error, afterBatches: 1000000}
    resources: {memory: 64Mi, callTimeout: 1s}
sink: {type: blackhole}
`
	_, stderr, code := run(t, spec, "--summary-json")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	var summary struct {
		SinkRecords int64 `json:"sinkRecords"`
		Operators   []struct {
			InstanceRecycles int   `json:"instanceRecycles"`
			PeakMemoryBytes  int64 `json:"peakMemoryBytes"`
		} `json:"operators"`
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil {
		t.Fatalf("summary: %v\n%s", err, stderr)
	}
	op := summary.Operators[0]
	t.Logf("4000 batches: peak memory %d bytes, %d recycles", op.PeakMemoryBytes, op.InstanceRecycles)
	if summary.SinkRecords != 1000000 || op.InstanceRecycles != 0 || op.PeakMemoryBytes > 24<<20 {
		t.Errorf("records %d, recycles %d, peak %d bytes: memory is not bounded", summary.SinkRecords, op.InstanceRecycles, op.PeakMemoryBytes)
	}
}
