// Command weir-go builds a Go operator project into a Weir component.
//
// Usage, from the operator's module (whose go.mod requires weir.dev/operator):
//
//	go run weir.dev/operator/cmd/weir-go build [PROJECT_DIR] [-o OUT.wasm]
//
// PROJECT_DIR (default .) holds the operator's package main; OUT.wasm
// defaults to PROJECT_DIR/<directory name>.wasm. The steps:
//
//  1. GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared: a core module
//     that exports the contract through the SDK's bindings;
//  2. wasm-tools component embed: records the WIT world `operator` in it;
//  3. wasm-tools component new --adapt: wraps it, with the WASI preview1
//     adapter, into a component.
//
// The tools are found in $WEIR_TOOLS (default ~/.cache/weir/tools), where
// scripts/setup-tools.sh of the Weir repository installs them, and can be
// named explicitly with WASM_TOOLS (the wasm-tools binary) and
// WEIR_WASI_ADAPTER (wasi_snapshot_preview1.reactor.wasm).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"weir.dev/operator/wit"
)

const (
	sdkModule = "weir.dev/operator"
	// minGoMinor is the oldest Go 1.x the SDK builds with: its bindings'
	// runtime package needs Go 1.25.
	minGoMinor  = 25
	installHint = "install it with scripts/setup-tools.sh (or scripts/setup-go.sh) from the Weir repository"
)

func main() {
	err := run(os.Args[1:])
	var usage usageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "weir-go: %v\n\n%s", err, usageText)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "weir-go: %v\n", err)
		os.Exit(1)
	}
}

const usageText = `usage: weir-go build [PROJECT_DIR] [-o OUT.wasm] [-v]

Builds the Go operator in PROJECT_DIR (default .) into a Weir component.
OUT.wasm defaults to PROJECT_DIR/<directory name>.wasm.

Environment:
  WEIR_TOOLS         where the tools are installed (default ~/.cache/weir/tools)
  WASM_TOOLS         the wasm-tools binary (default $WEIR_TOOLS/bin/wasm-tools, then PATH)
  WEIR_WASI_ADAPTER  the WASI preview1 reactor adapter
                     (default $WEIR_TOOLS/share/weir/wasi_snapshot_preview1.reactor.wasm)
`

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

type options struct {
	project string
	out     string
	verbose bool
}

func parseArgs(args []string) (options, error) {
	// `build` is optional so that scripts can call the command either way.
	if len(args) > 0 && args[0] == "build" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("weir-go build", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o options
	fs.StringVar(&o.out, "o", "", "output component")
	fs.BoolVar(&o.verbose, "v", false, "print each step and its duration")
	// Flags may come before or after the project directory.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return o, usageError{"help requested"}
			}
			return o, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(positional) {
	case 0:
		o.project = "."
	case 1:
		o.project = positional[0]
	default:
		return o, usageError{fmt.Sprintf("expected one project directory, got %q", positional)}
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseArgs(args)
	if err != nil {
		return err
	}
	project, err := filepath.Abs(o.project)
	if err != nil {
		return err
	}
	if st, err := os.Stat(project); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a directory", o.project)
	}
	out := o.out
	if out == "" {
		out = filepath.Join(project, filepath.Base(project)+".wasm")
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return err
	}

	goBin, err := findGo()
	if err != nil {
		return err
	}
	wasmTools, adapter, err := findTools()
	if err != nil {
		return err
	}

	scratch, err := os.MkdirTemp("", "weir-go-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)

	step := func(name string, f func() error) error {
		start := time.Now()
		err := f()
		if o.verbose {
			fmt.Fprintf(os.Stderr, "weir-go: %s: %v\n", name, time.Since(start).Round(time.Millisecond))
		}
		return err
	}
	wasmEnv := append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")

	if err := step("check imports", func() error { return checkImportsSDK(goBin, project, wasmEnv) }); err != nil {
		return err
	}
	core := filepath.Join(scratch, "core.wasm")
	err = step("go build", func() error {
		// -checklinkname=0: the bindings' runtime package reaches into the
		// Go runtime's allocator with go:linkname. -s -w: no symbol table
		// or DWARF; panic messages keep their file and line, which come
		// from the pc-line table.
		return command(project, wasmEnv, goBin, "build", "-buildmode=c-shared", "-trimpath",
			"-ldflags=-checklinkname=0 -s -w", "-o", core, ".")
	})
	if err != nil {
		return fmt.Errorf("go build failed: %w", err)
	}
	witDir := filepath.Join(scratch, "wit")
	if err := os.MkdirAll(witDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(witDir, "operator.wit"), []byte(wit.Operator), 0o644); err != nil {
		return err
	}
	embedded := filepath.Join(scratch, "embedded.wasm")
	err = step("component embed", func() error {
		return command(scratch, nil, wasmTools, "component", "embed", witDir, "--world", wit.World, core, "-o", embedded)
	})
	if err != nil {
		return fmt.Errorf("wasm-tools component embed failed: %w", err)
	}
	tmpOut := filepath.Join(scratch, "component.wasm")
	err = step("component new", func() error {
		return command(scratch, nil, wasmTools, "component", "new", embedded,
			"--adapt", "wasi_snapshot_preview1="+adapter, "-o", tmpOut)
	})
	if err != nil {
		return fmt.Errorf("wasm-tools component new failed: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := copyFile(tmpOut, out); err != nil {
		return err
	}
	if o.verbose {
		if st, err := os.Stat(out); err == nil {
			fmt.Fprintf(os.Stderr, "weir-go: wrote %s (%d bytes)\n", out, st.Size())
		}
	}
	return nil
}

// command runs name with args in dir, its output going to stderr.
func command(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

// findGo is the go command, checked to be recent enough.
func findGo() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is not on PATH: install Go 1.%d or newer (scripts/setup-go.sh checks it)", minGoMinor)
	}
	var stdout bytes.Buffer
	cmd := exec.Command(goBin, "env", "GOVERSION")
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go env GOVERSION failed: %w", err)
	}
	version := strings.TrimSpace(stdout.String())
	if !goVersionAtLeast(version, minGoMinor) {
		return "", fmt.Errorf("%s is too old: the Go SDK needs Go 1.%d or newer (scripts/setup-go.sh checks it)", version, minGoMinor)
	}
	return goBin, nil
}

// goVersionAtLeast tells whether a GOVERSION such as go1.26.8 (or a
// development build, which is taken as new enough) is at least go1.minor.
func goVersionAtLeast(version string, minor int) bool {
	rest, ok := strings.CutPrefix(version, "go1.")
	if !ok {
		return strings.HasPrefix(version, "devel")
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		rest = rest[:end]
	}
	n, err := strconv.Atoi(rest)
	return err == nil && n >= minor
}

// findTools locates wasm-tools and the WASI adapter.
func findTools() (wasmTools, adapter string, err error) {
	toolsDir := os.Getenv("WEIR_TOOLS")
	if toolsDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "", fmt.Errorf("cannot find the tools: set WEIR_TOOLS (%v)", err)
		}
		toolsDir = filepath.Join(home, ".cache", "weir", "tools")
	}
	if wasmTools = os.Getenv("WASM_TOOLS"); wasmTools != "" {
		if _, err := os.Stat(wasmTools); err != nil {
			return "", "", fmt.Errorf("WASM_TOOLS=%s: %v", wasmTools, err)
		}
	} else if p := filepath.Join(toolsDir, "bin", "wasm-tools"); isFile(p) {
		wasmTools = p
	} else if p, err := exec.LookPath("wasm-tools"); err == nil {
		wasmTools = p
	} else {
		return "", "", fmt.Errorf("wasm-tools not found in %s/bin, nor on PATH, nor named by WASM_TOOLS: %s", toolsDir, installHint)
	}
	if adapter = os.Getenv("WEIR_WASI_ADAPTER"); adapter != "" {
		if !isFile(adapter) {
			return "", "", fmt.Errorf("WEIR_WASI_ADAPTER=%s: no such file", adapter)
		}
	} else if p := filepath.Join(toolsDir, "share", "weir", "wasi_snapshot_preview1.reactor.wasm"); isFile(p) {
		adapter = p
	} else {
		return "", "", fmt.Errorf("the WASI preview1 reactor adapter is not in %s/share/weir, nor named by WEIR_WASI_ADAPTER: %s", toolsDir, installHint)
	}
	return wasmTools, adapter, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// checkImportsSDK fails early, with a message saying what to do, when the
// project is not a main package built on the SDK: otherwise the failure would
// come from wasm-tools, about a missing export.
func checkImportsSDK(goBin, project string, env []string) error {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}|{{.Name}}", ".")
	cmd.Dir = project
	cmd.Env = env
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cannot load the Go package in %s:\n%s", project, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	// The package itself comes last.
	if name := lines[len(lines)-1]; !strings.HasSuffix(name, "|main") {
		return fmt.Errorf("the package in %s is not package main: an operator is a main package that calls operator.Register from an init function", project)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, sdkModule+"|") {
			return nil
		}
	}
	return fmt.Errorf("the package in %s does not import %s: an operator calls operator.Register from an init function", project, sdkModule)
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	// Write beside the target and rename, so that a reader never sees half
	// a component.
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}
