//go:build e2e && bench

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rules-img/rules_img/e2e/harness"
)

// soakReport collects what the soaks measured for docs/benchmarks/soak.md.
var soakReport struct {
	mu       sync.Mutex
	sections map[string]string
}

func writeSoakReport(t *testing.T, section, text string) {
	soakReport.mu.Lock()
	defer soakReport.mu.Unlock()
	if soakReport.sections == nil {
		soakReport.sections = map[string]string{}
	}
	soakReport.sections[section] = text
	var keys []string
	for k := range soakReport.sections {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var md strings.Builder
	md.WriteString("# Soak and fault runs of `img registry` and `img bes`\n\n" +
		"On demand, not part of the test command: `bench/soak/run.sh [MINUTES]` (default 10). " +
		"Machine: 2 cores, buildbox-casd from Debian, CNCF Distribution 2.8. " + time.Now().UTC().Format("2006-01-02") + ".\n")
	for _, k := range keys {
		md.WriteString("\n" + soakReport.sections[k])
	}
	out := filepath.Join(harness.RepoRoot(), "docs", "benchmarks", "soak.md")
	if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s:\n%s", out, md.String())
}

func envInt(t *testing.T, key string, def int) int {
	if s := os.Getenv(key); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q", key, s)
		}
		return n
	}
	return def
}

// TestRegistrySoak runs SOAK_CLIENTS (50) clients against img registry on
// buildbox-casd for SOAK_MINUTES (10): each pushes images of its own and
// images every client shares, and pulls what any client pushed, checking
// every byte. casd is restarted twice and the registry once meanwhile.
// Afterwards every acknowledged tag must be a whole image (skopeo copies
// each, checking every blob), no response may have carried wrong bytes, and
// no temp file may be left; it reports the registry's peak RSS.
func TestRegistrySoak(t *testing.T) {
	clients := envInt(t, "SOAK_CLIENTS", 50)
	duration := time.Duration(envInt(t, "SOAK_MINUTES", 10)) * time.Minute
	casd, err := harness.StartCasd(harness.CasdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(casd.Stop)
	reg, err := harness.StartCASRegistry("grpc://"+casd.Direct(), "", "--upload-expiry", "1m")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	addr := reg.Addr()

	shared := make([]v1.Image, 5)
	for i := range shared {
		if shared[i], err = random.Image(1<<20, 3); err != nil {
			t.Fatal(err)
		}
	}
	type ack struct{ ref, digest string }
	var (
		mu       sync.Mutex
		acked    = map[string]string{} // repo:tag -> digest
		ackList  []ack
		ops      sync.Map // kind -> *atomic.Int64
		failures sync.Map // kind -> *atomic.Int64
		corrupt  atomic.Int64
		samples  []string
	)
	count := func(m *sync.Map, kind string) {
		n, _ := m.LoadOrStore(kind, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
	noteFailure := func(kind string, err error) {
		count(&failures, kind)
		mu.Lock()
		if len(samples) < 12 {
			samples = append(samples, kind+": "+err.Error())
		}
		mu.Unlock()
	}
	push := func(repo, tag string, img v1.Image) error {
		ref, err := name.ParseReference(addr+"/"+repo+":"+tag, name.Insecure)
		if err != nil {
			return err
		}
		if err := remote.Write(ref, img); err != nil {
			return err
		}
		d, _ := img.Digest()
		mu.Lock()
		acked[repo+":"+tag] = d.String()
		ackList = append(ackList, ack{repo + ":" + tag, d.String()})
		mu.Unlock()
		return nil
	}

	// Chaos: casd at 25% and 60% of the run, the registry at 40%.
	deadline := time.Now().Add(duration)
	chaos := make(chan string, 3)
	go func() {
		for _, step := range []struct {
			at   float64
			what string
			do   func() error
		}{
			{0.25, "casd restarted", casd.Restart},
			{0.40, "registry restarted", func() error { return reg.Restart() }},
			{0.60, "casd restarted", casd.Restart},
		} {
			time.Sleep(time.Until(deadline.Add(-duration + time.Duration(step.at*float64(duration)))))
			if err := step.do(); err != nil {
				chaos <- step.what + ": " + err.Error()
				continue
			}
			chaos <- step.what
		}
	}()
	// Peak RSS over the run (each registry process's VmHWM).
	var peakRSS atomic.Int64
	stopRSS := make(chan struct{})
	go func() {
		for {
			if kb := vmHWM(reg.PID()); kb > peakRSS.Load() {
				peakRSS.Store(kb)
			}
			select {
			case <-stopRSS:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()

	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(c)))
			repo := fmt.Sprintf("soak/c%02d", c)
			for n := 0; time.Now().Before(deadline); n++ {
				switch op := rng.Intn(10); {
				case op < 4:
					count(&ops, "push own")
					img, err := random.Image(int64(16<<10+rng.Intn(256<<10)), 2)
					if err == nil {
						err = push(repo, fmt.Sprintf("d%05d", n), img)
					}
					if err != nil {
						noteFailure("push own", err)
					}
				case op < 6:
					count(&ops, "push shared")
					j := rng.Intn(len(shared))
					if err := push(repo, fmt.Sprintf("s%d", j), shared[j]); err != nil {
						noteFailure("push shared", err)
					}
				default:
					mu.Lock()
					if len(ackList) == 0 {
						mu.Unlock()
						continue
					}
					a := ackList[rng.Intn(len(ackList))]
					mu.Unlock()
					count(&ops, "pull and check")
					bad, err := pullChecked(addr, a.ref, a.digest)
					if bad != "" {
						corrupt.Add(1)
						noteFailure("CORRUPT", fmt.Errorf("%s: %s", a.ref, bad))
					} else if err != nil {
						noteFailure("pull and check", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stopRSS)
	var events []string
	for range 3 {
		select {
		case e := <-chaos:
			events = append(events, e)
		case <-time.After(time.Minute):
		}
	}

	// Every acknowledged tag: its digest and every byte it names, by
	// plain HTTP, 16 at a time; a random 300 of them (and every shared
	// one) also by skopeo copy, which checks each blob against its digest.
	refs := make([]string, 0, len(acked))
	for ref := range acked {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	skopeo := map[string]bool{}
	for _, i := range rand.New(rand.NewSource(1)).Perm(len(refs))[:min(300, len(refs))] {
		skopeo[refs[i]] = true
	}
	for _, ref := range refs {
		if strings.Contains(ref, ":s") {
			skopeo[ref] = true
		}
	}
	var incomplete []string
	var imu sync.Mutex
	work := make(chan string)
	var vwg sync.WaitGroup
	verifyStart := time.Now()
	for range 16 {
		vwg.Add(1)
		go func() {
			defer vwg.Done()
			for ref := range work {
				got, err := tagDigest(addr, ref)
				if err == nil && got != acked[ref] {
					err = fmt.Errorf("names %s, pushed %s", got, acked[ref])
				}
				if err == nil {
					var bad string
					if bad, err = pullChecked(addr, ref, got); bad != "" {
						corrupt.Add(1)
						err = fmt.Errorf("wrong bytes: %s", bad)
					}
				}
				if err == nil && skopeo[ref] {
					err = harness.VerifyImage(addr + "/" + ref)
				}
				if err != nil {
					imu.Lock()
					incomplete = append(incomplete, ref+": "+err.Error())
					imu.Unlock()
				}
			}
		}()
	}
	for _, ref := range refs {
		work <- ref
	}
	close(work)
	vwg.Wait()
	verifyTook := time.Since(verifyStart)

	var leftovers []string
	filepath.WalkDir(reg.DataDir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasPrefix(d.Name(), ".tmp-") || filepath.Base(filepath.Dir(p)) == "uploads") {
			leftovers = append(leftovers, p)
		}
		return nil
	})

	opsLine := func(m *sync.Map) string {
		var parts []string
		m.Range(func(k, v any) bool {
			parts = append(parts, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
			return true
		})
		sort.Strings(parts)
		return strings.Join(parts, ", ")
	}
	var md strings.Builder
	fmt.Fprintf(&md, "## img registry: %d clients for %s\n\n", clients, duration)
	fmt.Fprintf(&md, "- operations: %s\n", opsLine(&ops))
	fmt.Fprintf(&md, "- failed operations (restarts in progress; retried by nobody): %s\n", or(opsLine(&failures), "none"))
	fmt.Fprintf(&md, "- chaos: %s\n", strings.Join(events, "; "))
	fmt.Fprintf(&md, "- responses with wrong bytes: **%d**\n", corrupt.Load())
	fmt.Fprintf(&md, "- acknowledged tags: %d; whole, every blob hashed: **%d**, %d of them also by skopeo copy (checked in %.0f s); incomplete: %d\n",
		len(refs), len(refs)-len(incomplete), len(skopeo), verifyTook.Seconds(), len(incomplete))
	fmt.Fprintf(&md, "- temp files or upload sessions left in the data directory: %d\n", len(leftovers))
	fmt.Fprintf(&md, "- registry peak RSS (VmHWM, largest of its two processes): %.1f MiB\n", float64(peakRSS.Load())/1024)
	if len(samples) > 0 {
		fmt.Fprintf(&md, "- first failures, as clients saw them:\n")
		for _, s := range samples {
			fmt.Fprintf(&md, "  - `%s`\n", firstLine(s, 200))
		}
	}
	writeSoakReport(t, "1 registry", md.String())
	if corrupt.Load() != 0 {
		t.Errorf("%d responses carried wrong bytes", corrupt.Load())
	}
	if len(incomplete) > 0 {
		t.Errorf("%d acknowledged tags are not whole images:\n%s", len(incomplete), strings.Join(incomplete[:min(len(incomplete), 20)], "\n"))
	}
	if len(leftovers) > 0 {
		t.Errorf("left in the data directory: %v", leftovers[:min(len(leftovers), 20)])
	}
	if len(events) != 3 || strings.Contains(strings.Join(events, " "), ":") {
		t.Errorf("chaos steps: %v", events)
	}
}

// pullChecked reads a tag's manifest and every blob it names, by plain
// HTTP. bad is set only for a complete 200 response whose bytes are wrong:
// a broken transfer is what the registry does instead of sending wrong
// bytes, and counts as an error, not as corruption.
func pullChecked(addr, ref, digest string) (bad string, err error) {
	repo, _, _ := strings.Cut(ref, ":")
	get := func(path, accept string) ([]byte, int, error) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp.StatusCode, err
	}
	raw, code, err := get("/v2/"+repo+"/manifests/"+digest, "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json")
	if err != nil || code != http.StatusOK {
		return "", fmt.Errorf("manifest: HTTP %d %v", code, err)
	}
	if sha(raw) != digest {
		return "manifest " + digest + " arrived as " + sha(raw), nil
	}
	var m struct {
		Config v1.Descriptor
		Layers []v1.Descriptor
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return "manifest is not JSON", nil
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		b, code, err := get("/v2/"+repo+"/blobs/"+d.Digest.String(), "")
		if err != nil || code != http.StatusOK {
			return "", fmt.Errorf("blob %s: HTTP %d %v", d.Digest, code, err)
		}
		if int64(len(b)) != d.Size || sha(b) != d.Digest.String() {
			return fmt.Sprintf("blob %s arrived as %d bytes hashing to %s", d.Digest, len(b), sha(b)), nil
		}
	}
	return "", nil
}

// vmHWM is a process's peak resident set in KiB, 0 when unreadable.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// tagDigest resolves repo:tag with a HEAD (Docker-Content-Digest).
func tagDigest(addr, ref string) (string, error) {
	repo, tag, _ := strings.Cut(ref, ":")
	req, _ := http.NewRequest("HEAD", "http://"+addr+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HEAD %s: %s", ref, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// TestBESFleetUnderFaults builds SOAK_FLEET_N (200) services with the bes
// strategy on buildbox-casd while the registry answers 503 to every fifth
// request. Each image must arrive whole, or be reported failed naming its
// target, in the build's output.
func TestBESFleetUnderFaults(t *testing.T) {
	n := envInt(t, "SOAK_FLEET_N", 200)
	dir := generateFleet(t, n)
	casd, err := harness.StartCasd(harness.CasdOptions{Execute: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(casd.Stop)
	bes, err := harness.StartBES("grpc://"+casd.Direct(), "--jobs", "16")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bes.Stop)
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	faults, err := harness.StartFaultProxy(reg.Addr(), harness.FaultOptions{Fail503Every: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(faults.Stop)
	ob, err := harness.TempDir("rules_img_e2e_besfaults-")
	if err != nil {
		t.Fatal(err)
	}
	b := &harness.Bazel{Workspace: dir, OutputBase: ob}
	t.Cleanup(func() { b.Shutdown(); os.RemoveAll(ob) })
	endpoint := "grpc://" + casd.Addr()
	start := time.Now()
	r := b.Run("build", "//svc/...", "--disk_cache=", "--remote_executor="+endpoint, "--remote_download_minimal",
		`--remote_download_regex=.*\.json$`, "--jobs=32", "--keep_going",
		"--@rules_img//img/settings:remote_cache="+endpoint,
		"--bes_backend=grpc://"+bes.Addr(),
		"--@rules_img//img/settings:push_strategy=bes",
		"--@rules_img//img/settings:destination_registry="+faults.Addr())
	took := time.Since(start)
	out := r.Stdout + r.Stderr
	arrived, reported := 0, 0
	var lost []string
	for i := 1; i <= n; i++ {
		svc := fmt.Sprintf("s%04d", i)
		target := "//svc/" + svc + ":push"
		if _, _, err := harness.RawManifest(reg.Addr(), "fleet/"+svc, "v1"); err == nil {
			if err := harness.VerifyImage(reg.Addr() + "/fleet/" + svc + ":v1"); err != nil {
				lost = append(lost, target+": tagged but not whole: "+err.Error())
				continue
			}
			arrived++
			continue
		}
		if strings.Contains(out, target) {
			reported++
			continue
		}
		lost = append(lost, target+": neither pushed nor reported")
	}
	var md strings.Builder
	fmt.Fprintf(&md, "## img bes: %d images while the registry answers 503 to every fifth request\n\n", n)
	fmt.Fprintf(&md, "- build and push: %.0f s; %d of %d registry requests got an injected 503\n", took.Seconds(), faults.Injected(), faults.Requests())
	fmt.Fprintf(&md, "- images whole in the registry (skopeo copy): **%d**; reported failed, naming the target: %d; neither: **%d**\n", arrived, reported, len(lost))
	fmt.Fprintf(&md, "- the build's result: %s\n", map[bool]string{true: "success", false: "failed, as it must when a push failed"}[r.Err == nil])
	writeSoakReport(t, "2 bes", md.String())
	if len(lost) > 0 {
		t.Errorf("%d images neither arrived whole nor were reported:\n%s\nbuild output:\n%s", len(lost), strings.Join(lost[:min(len(lost), 20)], "\n"), tailLines(out, 30))
	}
	if reported > 0 && r.Err == nil {
		t.Errorf("%d pushes failed but the build succeeded", reported)
	}
}
