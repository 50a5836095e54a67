package operator

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"weir.dev/operator/wit"
)

// The SDK embeds a copy of the contract (for the build command) and the
// bindings generated from it; both must follow operators-sdk/wit.
func TestEmbeddedWITIsTheContract(t *testing.T) {
	canonical, err := os.ReadFile("../wit/operator.wit")
	if err != nil {
		t.Fatalf("the contract: %v", err)
	}
	if wit.Operator != string(canonical) {
		t.Error("wit/operator.wit differs from operators-sdk/wit/operator.wit: run ./gen-bindings.sh")
	}
}

// findWitBindgen looks where gen-bindings.sh looks.
func findWitBindgen() string {
	if p := os.Getenv("WIT_BINDGEN"); p != "" {
		return p
	}
	tools := os.Getenv("WEIR_TOOLS")
	if tools == "" {
		if home, err := os.UserHomeDir(); err == nil {
			tools = filepath.Join(home, ".cache", "weir", "tools")
		}
	}
	if p := filepath.Join(tools, "bin", "wit-bindgen"); tools != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("wit-bindgen"); err == nil {
		return p
	}
	return ""
}

// TestBindingsAreUpToDate regenerates the bindings into a temporary
// directory and compares them with the committed ones. Without wit-bindgen it
// is skipped, except in CI (CI set), where a missing tool is a failure.
func TestBindingsAreUpToDate(t *testing.T) {
	witBindgen := findWitBindgen()
	if witBindgen == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("wit-bindgen not found: run scripts/setup-tools.sh")
		}
		t.Skip("wit-bindgen not found (scripts/setup-tools.sh installs it)")
	}
	out := t.TempDir()
	cmd := exec.Command(witBindgen, "go", "wit", "--world", wit.World,
		"--pkg-name", "weir.dev/operator/internal/bindings", "--out-dir", out)
	// wit-bindgen formats with the gofmt it finds on PATH: make it this
	// toolchain's.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wit-bindgen: %v\n%s", err, log)
	}
	generated := map[string][]byte{}
	err := filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		generated[rel], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(generated) == 0 {
		t.Fatal("wit-bindgen generated nothing")
	}
	committed := filepath.Join("internal", "bindings")
	err = filepath.WalkDir(committed, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "export_weir_operator_handler" {
				return filepath.SkipDir // the SDK's own code
			}
			return nil
		}
		rel, _ := filepath.Rel(committed, path)
		want, ok := generated[rel]
		switch {
		case !ok:
			t.Errorf("%s is committed but no longer generated", path)
		case !bytes.Equal(want, mustRead(t, path)):
			t.Errorf("%s differs from what wit-bindgen generates", path)
		}
		delete(generated, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range generated {
		t.Errorf("%s is generated but not committed", filepath.Join(committed, rel))
	}
	if t.Failed() {
		t.Log("run operators-sdk/go/gen-bindings.sh to regenerate")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
