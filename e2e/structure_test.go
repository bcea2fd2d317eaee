//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageStructureTest: container-structure-test configs pass on an image,
// on every platform of an index and on an OCI layout directory, and a bad
// config fails with messages that name the test, the field, and the expected
// and actual values.
func TestImageStructureTest(t *testing.T) {
	if _, err := ws.Must("test", "//structure:app_test", "//structure:index_test", "//structure:layout_test", "--test_output=errors"); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"index_test", "layout_test"} {
		log, err := os.ReadFile(filepath.Join(ws.Workspace, "bazel-testlogs", "structure", target, "test.log"))
		if err != nil {
			t.Fatal(err)
		}
		if target == "index_test" && (!strings.Contains(string(log), "PASS [linux/amd64] index.yaml: fileExistenceTests[0]") ||
			!strings.Contains(string(log), "PASS [linux/arm64/v8] index.yaml: fileExistenceTests[0]")) {
			t.Errorf("index_test should test both platforms:\n%s", log)
		}
		if target == "layout_test" && !strings.Contains(string(log), `PASS [linux/amd64] files.json: fileContentTests[0] "greeting"`) {
			t.Errorf("layout_test:\n%s", log)
		}
	}

	r := ws.Run("test", "//structure:bad")
	log, _ := os.ReadFile(filepath.Join(ws.Workspace, "bazel-testlogs", "structure", "bad", "test.log"))
	if r.Err == nil {
		t.Fatalf("//structure:bad passed:\n%s", log)
	}
	for _, want := range []string{
		`FAIL [linux/amd64] bad.yaml: metadataTest: workdir: expected "/srv", got "/app"`,
		`FAIL [linux/amd64] bad.yaml: fileExistenceTests[0] "a shell": /bin/sh: expected to exist, but the image does not hold it`,
		`FAIL [linux/amd64] bad.yaml: fileContentTests[0] "greeting": /etc/hello/greeting.txt: expected content matching "goodbye", got "hello from upstream docs\n"`,
		`FAIL [linux/amd64] bad.yaml: commandTests[0] "runs": command tests run commands in a container`,
		`img structure-test: //structure:bad: some structure tests failed`,
	} {
		if !strings.Contains(string(log), want) {
			t.Errorf("bad's log should say %q:\n%s", want, log)
		}
	}
}
