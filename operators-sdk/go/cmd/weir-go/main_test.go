package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		project, out   string
		verbose, usage bool
	}{
		{args: nil, project: "."},
		{args: []string{"build"}, project: "."},
		{args: []string{"build", "dir", "-o", "x.wasm"}, project: "dir", out: "x.wasm"},
		{args: []string{"-o", "x.wasm", "dir"}, project: "dir", out: "x.wasm"},
		{args: []string{"dir", "-v", "-o=y.wasm"}, project: "dir", out: "y.wasm", verbose: true},
		{args: []string{"a", "b"}, usage: true},
		{args: []string{"-x"}, usage: true},
		{args: []string{"-h"}, usage: true},
	} {
		o, err := parseArgs(tc.args)
		var usage usageError
		if tc.usage {
			if !errors.As(err, &usage) {
				t.Errorf("%q: got %v, want a usage error", tc.args, err)
			}
			continue
		}
		if err != nil || o.project != tc.project || o.out != tc.out || o.verbose != tc.verbose {
			t.Errorf("%q: got %+v, %v", tc.args, o, err)
		}
	}
}

func TestGoVersionAtLeast(t *testing.T) {
	for v, want := range map[string]bool{
		"go1.25": true, "go1.25.0": true, "go1.26.8": true, "go1.30rc1": true,
		"go1.24.9": false, "go1.9": false, "devel go1.27-abcdef": true, "": false,
	} {
		if got := goVersionAtLeast(v, 25); got != want {
			t.Errorf("%q: got %v", v, got)
		}
	}
}

func TestMissingToolsSayHowToInstallThem(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("WEIR_TOOLS", empty)
	t.Setenv("WASM_TOOLS", "")
	t.Setenv("WEIR_WASI_ADAPTER", "")
	t.Setenv("PATH", empty)
	_, _, err := findTools()
	if err == nil || !strings.Contains(err.Error(), "wasm-tools not found") || !strings.Contains(err.Error(), "scripts/setup-tools.sh") {
		t.Errorf("got %v", err)
	}

	// wasm-tools present, the adapter missing.
	bin := filepath.Join(empty, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "wasm-tools"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err = findTools()
	if err == nil || !strings.Contains(err.Error(), "adapter") || !strings.Contains(err.Error(), "scripts/setup-tools.sh") {
		t.Errorf("got %v", err)
	}

	// Explicit paths win, and must exist.
	t.Setenv("WEIR_WASI_ADAPTER", filepath.Join(empty, "nope.wasm"))
	if _, _, err = findTools(); err == nil || !strings.Contains(err.Error(), "WEIR_WASI_ADAPTER") {
		t.Errorf("got %v", err)
	}
	adapter := filepath.Join(empty, "adapter.wasm")
	if err := os.WriteFile(adapter, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WEIR_WASI_ADAPTER", adapter)
	wt, ad, err := findTools()
	if err != nil || wt != filepath.Join(bin, "wasm-tools") || ad != adapter {
		t.Errorf("got %s %s %v", wt, ad, err)
	}
}
