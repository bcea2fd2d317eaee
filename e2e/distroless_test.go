//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// TestDistrolessExample builds examples/distroless as a user would: its
// manifest points at a Debian repository served on loopback (the packages
// tools/setup.sh downloaded, so the test never depends on what the archive
// holds today), `bazel run @debian//:lock` pins them, and the build uses only
// the lockfile. The C image runs on the packages' libc6 as uid 65532, the Go
// image trusts the ca-certificates package's CAs, the arm64 base holds
// arm64's libc, the layer is the same in a fresh output base and on
// buildbox's remote executor, and bad packages and manifests fail naming the
// package and the fix.
func TestDistrolessExample(t *testing.T) {
	// The repository, and a second one whose two packages Pre-Depend on each
	// other (an index is all the lock reads).
	cycle := t.TempDir()
	os.WriteFile(filepath.Join(cycle, "Packages"), []byte(fakePackage("cyc-a", "cyc-b")+"\n"+fakePackage("cyc-b", "cyc-a")), 0o644)
	junk := []byte("this is not a Debian package\n")
	mux := http.NewServeMux()
	mux.Handle("/cycle/", http.StripPrefix("/cycle", http.FileServer(http.Dir(cycle))))
	mux.HandleFunc("/junk/libssl3.deb", func(w http.ResponseWriter, r *http.Request) { w.Write(junk) })
	mux.Handle("/", http.FileServer(http.Dir(harness.DebRepoPath())))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	dir := exampleCopy(t, "distroless")
	manifest := func(packages ...string) {
		t.Helper()
		m := map[string]any{
			"sources":       []map[string]any{{"url": srv.URL, "suite": "./"}, {"url": srv.URL + "/cycle", "suite": "./"}},
			"architectures": []string{"amd64", "arm64"},
			"packages":      packages,
		}
		b, _ := json.MarshalIndent(m, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "packages.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ob, err := harness.TempDir("rules_img_e2e_distroless_ob-")
	if err != nil {
		t.Fatal(err)
	}
	b := &harness.Bazel{Workspace: dir, OutputBase: ob}
	t.Cleanup(func() { b.Shutdown(); os.RemoveAll(ob) })

	manifest("base-files", "netbase", "tzdata", "ca-certificates", "libc6", "libssl3")
	if _, err := bazelRun(t, b, "@debian//:lock", nil); err != nil {
		t.Fatal(err)
	}
	lockPath := filepath.Join(dir, "packages.lock.json")
	lockText, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages []struct{ Name, Version, Architecture, URL, SHA256 string }
	}
	if err := json.Unmarshal(lockText, &lock); err != nil {
		t.Fatal(err)
	}
	locked := map[string]bool{}
	for _, p := range lock.Packages {
		locked[p.Name+"/"+p.Architecture] = true
	}
	for _, name := range []string{"base-files", "netbase", "tzdata", "ca-certificates", "libc6", "libssl3", "libgcc-s1", "gcc-12-base"} {
		for _, arch := range []string{"amd64", "arm64"} {
			if !locked[name+"/"+arch] {
				t.Errorf("the lockfile lacks %s for %s", name, arch)
			}
		}
	}
	t.Logf("locked %d packages for two architectures", len(lock.Packages))

	if _, err := b.Must("test", "//...", "--test_output=errors"); err != nil {
		t.Fatal(err)
	}
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrd.Stop)
	for _, c := range []struct{ target, want string }{
		{"//:c_image", `hello from C as nonroot (uid 65532) on "Debian GNU/Linux 12 (bookworm)"`},
		{"//:go_index", "hello from Go on linux/amd64 (uid 65532), "},
	} {
		name := "docker.io/library/distroless" + strings.ReplaceAll(c.target, "//:", "-") + ":e2e"
		if err := ctrd.ImportLayout(layoutOf(t, b, c.target), name); err != nil {
			t.Fatal(err)
		}
		out, err := ctrd.Run(name, "distroless"+strings.ReplaceAll(c.target, "//:", "-"))
		if err != nil || !strings.Contains(out, c.want) {
			t.Fatalf("%s: %v %q, want %q", c.target, err, out, c.want)
		}
		if c.target == "//:go_index" && strings.Contains(out, ", 0 trusted CAs") {
			t.Errorf("the Go binary trusts no CA: %q", out)
		}
		t.Logf("%s: %s", c.target, strings.TrimSpace(out))
	}

	t.Run("SBOM", func(t *testing.T) {
		var pinned []lockedPackage
		for _, p := range lock.Packages {
			pinned = append(pinned, lockedPackage{p.Name, p.Version, p.Architecture})
		}
		testDistrolessSBOM(t, b, pinned)
	})

	layerDigest := func(b *harness.Bazel, flags ...string) (string, string) {
		t.Helper()
		if _, err := b.Must(append([]string{"build", "//:base_layer"}, flags...)...); err != nil {
			t.Fatal(err)
		}
		files, err := b.OutputFiles("//:base_layer", "", flags...)
		if err != nil {
			t.Fatal(err)
		}
		var digest, blob string
		for _, f := range files {
			if strings.HasSuffix(f, ".layer.json") {
				var m struct{ Digest string }
				readJSON(t, f, &m)
				digest = m.Digest
			} else {
				blob = f
			}
		}
		return digest, blob
	}
	amd64, _ := layerDigest(b)
	t.Run("arm64 base holds arm64's libc", func(t *testing.T) {
		_, blob := layerDigest(b, "--platforms=//:linux_arm64")
		names := map[string]bool{}
		for _, n := range tarNames(t, blob) {
			names[n] = true
		}
		if !names["usr/lib/aarch64-linux-gnu/libc.so.6"] || !names["var/lib/dpkg/status.d/libc6"] || names["usr/lib/x86_64-linux-gnu/libc.so.6"] {
			t.Errorf("the arm64 base layer's libc is not arm64's (%d entries)", len(names))
		}
	})
	t.Run("same layer in a fresh output base", func(t *testing.T) {
		ob2, err := harness.TempDir("rules_img_e2e_distroless_ob2-")
		if err != nil {
			t.Fatal(err)
		}
		fresh := &harness.Bazel{Workspace: dir, OutputBase: ob2}
		defer func() { fresh.Shutdown(); os.RemoveAll(ob2) }()
		if d, _ := layerDigest(fresh, "--disk_cache="); d != amd64 {
			t.Errorf("//:base_layer is %s in one output base and %s in another", amd64, d)
		}
	})
	t.Run("same layer on buildbox's remote executor", func(t *testing.T) {
		casd, err := harness.StartCasd(harness.CasdOptions{Execute: true, Instance: "rules-img-e2e"})
		if err != nil {
			t.Fatal(err)
		}
		defer casd.Stop()
		ob3, err := harness.TempDir("rules_img_e2e_distroless_remote-")
		if err != nil {
			t.Fatal(err)
		}
		remote := &harness.Bazel{Workspace: dir, OutputBase: ob3}
		defer func() { remote.Shutdown(); os.RemoveAll(ob3) }()
		d, _ := layerDigest(remote, "--disk_cache=", "--remote_executor=grpc://"+casd.Addr(), "--remote_instance_name=rules-img-e2e")
		if d != amd64 {
			t.Errorf("//:base_layer is %s locally and %s on the remote executor", amd64, d)
		}
		if n := casd.Calls("/build.bazel.remote.execution.v2.Execution/Execute"); n == 0 {
			t.Errorf("nothing was executed remotely")
		}
	})

	// Bad input: each fails naming the package and the fix, and a failed
	// lock leaves the lockfile as it was.
	edit := func(name, url, sha string) {
		t.Helper()
		var l map[string]any
		json.Unmarshal(lockText, &l)
		for _, p := range l["packages"].([]any) {
			m := p.(map[string]any)
			if m["name"] == name && m["architecture"] == "amd64" {
				m["url"], m["sha256"] = url, sha
			}
		}
		out, _ := json.Marshal(l)
		os.WriteFile(lockPath, out, 0o644)
	}
	var libssl3 string
	for _, p := range lock.Packages {
		if p.Name == "libssl3" && p.Architecture == "amd64" {
			libssl3 = p.URL
		}
	}
	junkSum := sha256.Sum256(junk)
	for _, c := range []struct {
		name, url, sha, want string
	}{
		{"checksum mismatch", libssl3, strings.Repeat("0", 64), "package libssl3 (amd64): cannot download " + libssl3 + " with the lockfile's sha256 " + strings.Repeat("0", 64) + ". If the archive replaced the package, run `bazel run @debian//:lock` to pin the current version; otherwise check the source or a mirror"},
		{"not a Debian archive", srv.URL + "/junk/libssl3.deb", hex.EncodeToString(junkSum[:]), "not a Debian package: it does not start with an ar archive header (!<arch>); the file must be a Debian binary package (.deb)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			edit("libssl3", c.url, c.sha)
			r := b.Run("build", "//:base_layer")
			if r.Err == nil || !strings.Contains(r.Stderr, c.want) {
				t.Errorf("build: %v, want an error with %q:\n%s", r.Err, c.want, tailLines(r.Stderr, 15))
			}
		})
	}
	os.WriteFile(lockPath, lockText, 0o644)
	for _, c := range []struct {
		name, pkg, want string
	}{
		{"missing package", "no-such-package", "package no-such-package (needed by the manifest) is in no Packages index of the sources for amd64; check the name, or add the source or component that has it"},
		{"unsatisfiable version", "libc6 (>= 99)", "unsatisfiable version: the manifest needs libc6 (>= 99), but the index for amd64 has libc6 "},
		{"dependency cycle", "cyc-a", "dependency cycle through Pre-Depends: cyc-a -> cyc-b -> cyc-a; no installation order exists"},
	} {
		t.Run(c.name, func(t *testing.T) {
			manifest(c.pkg)
			out, err := bazelRun(t, b, "@debian//:lock", nil)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("lock: %v, want an error with %q:\n%s", err, c.want, tailLines(out, 10))
			}
			if now, _ := os.ReadFile(lockPath); string(now) != string(lockText) {
				t.Errorf("a failed lock changed the lockfile")
			}
		})
	}
}

// fakePackage is a Packages stanza whose package Pre-Depends on another.
func fakePackage(name, pre string) string {
	return "Package: " + name + "\nVersion: 1.0\nArchitecture: all\nPre-Depends: " + pre +
		"\nFilename: ./" + name + ".deb\nSize: 1\nSHA256: " + strings.Repeat("ab", 32) + "\n"
}

// exampleCopy copies examples/NAME into a temporary workspace, with its
// rules_img override pointing at this checkout.
func exampleCopy(t *testing.T, name string) string {
	t.Helper()
	dst, err := harness.TempDir("rules_img_e2e_example-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dst) })
	src := filepath.Join(harness.RepoRoot(), "examples", name)
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue // bazel-* links
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "MODULE.bazel" {
			b = []byte(strings.Replace(string(b), `path = "../.."`, `path = "`+harness.RepoRoot()+`"`, 1))
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
