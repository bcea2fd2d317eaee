//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// TestDistributionConformance runs the OCI distribution-spec conformance
// suite (its default checks, OCI 1.1) against CNCF Distribution 2.8 and
// against img registry on buildbox-casd, in one run: img registry must
// pass every check Distribution passes, and every referrers check.
func TestDistributionConformance(t *testing.T) {
	suite := filepath.Join(filepath.Dir(harness.CranePath()), "conformance")
	if _, err := os.Stat(suite); err != nil {
		t.Fatalf("the conformance suite is not built (tools/setup.sh builds it): %v", err)
	}
	dist, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dist.Stop)
	casd, err := harness.StartCasd(harness.CasdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(casd.Stop)
	reg, err := harness.StartCASRegistry("grpc://"+casd.Direct(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)

	theirs := runConformance(t, suite, dist.Addr())
	ours := runConformance(t, suite, reg.Addr())
	t.Logf("CNCF Distribution 2.8: %s", theirs.summary)
	t.Logf("img registry on casd:  %s", ours.summary)

	var missed, referrers []string
	for name, st := range theirs.leaves {
		if st == "Pass" && ours.leaves[name] != "Pass" {
			missed = append(missed, fmt.Sprintf("%s (%s)", name, ours.leaves[name]))
		}
	}
	for name, st := range ours.leaves {
		if strings.Contains(name, "referrers") && st != "Pass" {
			referrers = append(referrers, name+" ("+st+")")
		}
	}
	sort.Strings(missed)
	sort.Strings(referrers)
	if len(missed) > 0 {
		t.Errorf("%d checks Distribution passes fail on img registry:\n%s", len(missed), strings.Join(missed, "\n"))
	}
	if len(referrers) > 0 {
		t.Errorf("referrers checks not passed:\n%s", strings.Join(referrers, "\n"))
	}
	if n := countOf(ours.leaves, "Pass"); n < 480 {
		// The suite's own names may change; a collapse in what it runs would
		// hide behind "nothing Distribution passes fails here".
		t.Errorf("only %d distinct checks passed on img registry (507 in December 2026)", n)
	}
}

type conformanceRun struct {
	summary string
	leaves  map[string]string // test path -> Pass, FAIL, Skip, Disabled, Error
}

var (
	conformanceLine  = regexp.MustCompile(`^\s+(OCI Conformance Test/.*): (Pass|FAIL|Skip|Disabled|Error)$`)
	conformanceCount = regexp.MustCompile(`^\s+(\w+)\.+:\s+(\d+)$`)
)

func runConformance(t *testing.T, suite, addr string) conformanceRun {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(suite)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+addr, "OCI_TLS=disabled", "OCI_RESULTS_DIR="+filepath.Join(dir, "results"),
		"OCI_LOG=error")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A failing check exits 1; the report is what counts.
	if err := cmd.Run(); err != nil && cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("conformance suite against %s: %v\n%s", addr, err, tailLines(out.String(), 40))
	}
	run := conformanceRun{leaves: map[string]string{}}
	var counts []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		if m := conformanceLine.FindStringSubmatch(line); m != nil {
			run.leaves[m[1]] = m[2]
		} else if m := conformanceCount.FindStringSubmatch(line); m != nil && len(counts) < 6 {
			// The first six counts are the result's: disabled, skip,
			// pass, fail, error, total.
			counts = append(counts, strings.ToLower(m[1])+" "+m[2])
		}
	}
	if len(run.leaves) == 0 {
		t.Fatalf("no results from the conformance suite against %s:\n%s", addr, tailLines(out.String(), 40))
	}
	run.summary = strings.Join(counts, ", ")
	return run
}

func countOf(m map[string]string, status string) int {
	n := 0
	for _, v := range m {
		if v == status {
			n++
		}
	}
	return n
}
