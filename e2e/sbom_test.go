//go:build e2e

package e2e

import (
	"debug/buildinfo"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/rules-img/rules_img/e2e/harness"
)

type lockedPackage struct{ Name, Version, Architecture string }

// testDistrolessSBOM checks image_sbom on examples/distroless's Go image: a
// static Go binary on a base made of Debian packages. Both documents
// validate with their ecosystems' own validators (SPDX's tools-golang,
// CycloneDX's Python library); every Debian package of the base appears
// with the lockfile's version and a purl, the Go binary with the standard
// library it was built with; and cdxgen, run on the same image's OCI
// layout, finds no package that ours lacks.
func testDistrolessSBOM(t *testing.T, b *harness.Bazel, lock []lockedPackage) {
	if _, err := b.Must("build", "//:go_sbom", "//:go_sbom_cdx", "//:hello_go"); err != nil {
		t.Fatal(err)
	}
	file := func(target string) string {
		t.Helper()
		files, err := b.OutputFiles(target, "")
		if err != nil || len(files) != 1 {
			t.Fatalf("%s: %v %v", target, files, err)
		}
		return files[0]
	}
	spdxPath, cdxPath := file("//:go_sbom.spdx.json"), file("//:go_sbom_cdx.cdx.json")

	f, err := os.Open(spdxPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := spdxjson.Read(f)
	f.Close()
	if err != nil {
		t.Fatalf("SPDX: tools-golang cannot read it: %v", err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Errorf("SPDX: tools-golang: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || len(doc.Files) == 0 {
		t.Errorf("SPDX: version %s, %d files", doc.SPDXVersion, len(doc.Files))
	}
	ours := map[string]bool{} // purls
	for _, p := range doc.Packages {
		for _, r := range p.PackageExternalReferences {
			if r.RefType == "purl" {
				ours[r.Locator] = true
			}
		}
	}
	validate := `import sys
from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.schema import SchemaVersion
err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())
if err is not None:
    print(err)
    sys.exit(1)
`
	if out, err := exec.Command("/usr/bin/python3", "-c", validate, cdxPath).CombinedOutput(); err != nil {
		t.Errorf("CycloneDX: python3-cyclonedx-lib rejects it: %v\n%s", err, out)
	}
	// The validator can fail: a document without its bomFormat is refused.
	broken := filepath.Join(t.TempDir(), "broken.json")
	raw, _ := os.ReadFile(cdxPath)
	os.WriteFile(broken, []byte(strings.Replace(string(raw), `"bomFormat":"CycloneDX",`, "", 1)), 0o644)
	if err := exec.Command("/usr/bin/python3", "-c", validate, broken).Run(); err == nil {
		t.Error("CycloneDX: the validator accepted a document without bomFormat")
	}
	var cdx struct {
		Components []struct{ Type, Name, Version, PURL string }
	}
	if err := json.Unmarshal(raw, &cdx); err != nil {
		t.Fatal(err)
	}
	cdxPurls := map[string]bool{}
	for _, c := range cdx.Components {
		if c.PURL != "" {
			cdxPurls[c.PURL] = true
		}
	}

	// The base_layer's packages, at the lockfile's versions.
	for _, p := range lock {
		switch p.Name {
		case "base-files", "netbase", "tzdata", "gcc-12-base", "libgcc-s1", "libc6", "libssl3":
		default:
			continue
		}
		if p.Architecture != "amd64" && p.Architecture != "all" {
			continue
		}
		// The package's own Architecture: "all" for tzdata, whatever the lock's architecture.
		want := "pkg:deb/debian/" + p.Name + "@" + strings.ReplaceAll(strings.ReplaceAll(p.Version, ":", "%3A"), "+", "%2B") + "?arch="
		if !hasDebPURL(ours, want) {
			t.Errorf("SPDX lacks %s %s: want purl %s(amd64|all)&distro=debian-12", p.Name, p.Version, want)
		}
		if !hasDebPURL(cdxPurls, want) {
			t.Errorf("CycloneDX lacks %s", want)
		}
	}
	info, err := buildinfo.ReadFile(file("//:hello_go"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion, _, _ := strings.Cut(strings.TrimPrefix(info.GoVersion, "go"), " ")
	if want := "pkg:golang/stdlib@" + goVersion; !ours[want] {
		t.Errorf("SPDX lacks the Go binary's %s", want)
	}

	// cdxgen on the same image: nothing it finds may be missing from ours.
	cdxgen := filepath.Join(harness.CdxgenDir(), "node_modules", ".bin", "cdxgen")
	if _, err := os.Stat(cdxgen); err != nil {
		t.Fatalf("cdxgen is not installed (tools/setup.sh installs it): %v", err)
	}
	// cdxgen reads an image from an archive: the OCI layout, tarred.
	layout := layoutOf(t, b, "//:go_image")
	archive := filepath.Join(t.TempDir(), "go_image.tar")
	if out, err := exec.Command("tar", "-C", layout, "-chf", archive, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	peerOut := filepath.Join(t.TempDir(), "cdxgen.json")
	cmd := exec.Command(cdxgen, "-t", "docker", "--no-install-deps", "-o", peerOut, archive)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "CDXGEN_TEMP_DIR="+t.TempDir(), "FETCH_LICENSE=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cdxgen: %v\n%s", err, tailLines(string(out), 20))
	}
	var peer struct {
		Components []struct{ Name, Version, PURL string }
	}
	b2, err := os.ReadFile(peerOut)
	if err != nil || json.Unmarshal(b2, &peer) != nil {
		t.Fatalf("cdxgen wrote no SBOM: %v", err)
	}
	// Both lists, by type/name@version. cdxgen lists a Debian source
	// package as a component of its own; ours names it in the binary
	// package's upstream qualifier. It writes Go's standard library as
	// v1.24.13, ours as 1.24.13 (as OSV does). Its generic components are
	// files, which ours lists as files.
	key := func(purl string) string {
		p, _, _ := strings.Cut(purl, "?")
		p = strings.ToLower(p)
		return strings.Replace(p, "pkg:golang/stdlib@v", "pkg:golang/stdlib@", 1)
	}
	oursKeys := map[string]bool{}
	for purl := range ours {
		oursKeys[key(purl)] = true
		if q := strings.SplitN(purl, "upstream=", 2); len(q) == 2 && strings.HasPrefix(purl, "pkg:deb/") {
			name, version := strings.Split(q[1], "&")[0], strings.SplitN(key(purl), "@", 2)[1]
			oursKeys["pkg:deb/debian/"+strings.ToLower(name)+"@"+version] = true
		}
	}
	files, baseNames := map[string]bool{}, map[string]bool{}
	for _, f := range doc.Files {
		files["/"+strings.TrimPrefix(f.FileName, "./")] = true
		baseNames[filepath.Base(f.FileName)] = true
	}
	var peerList, missing []string
	peerFiles := 0
	for _, c := range peer.Components {
		if c.PURL == "" || strings.HasPrefix(c.PURL, "pkg:container/") || strings.HasPrefix(c.PURL, "pkg:oci/") || strings.HasPrefix(c.PURL, "pkg:swid/") {
			continue
		}
		if strings.HasPrefix(c.PURL, "pkg:generic/") {
			// A file by its path, or a shared library by its name.
			name, q, _ := strings.Cut(strings.TrimPrefix(c.PURL, "pkg:generic/"), "?")
			path, _ := url.QueryUnescape(strings.Split(strings.TrimPrefix(q, "path="), "&")[0])
			peerFiles++
			if !files[path] && !(path == "" && baseNames[name]) {
				missing = append(missing, c.PURL)
			}
			continue
		}
		peerList = append(peerList, key(c.PURL))
		if !oursKeys[key(c.PURL)] {
			missing = append(missing, c.PURL)
		}
	}
	var oursList []string
	for purl := range ours {
		oursList = append(oursList, purl)
	}
	sort.Strings(peerList)
	sort.Strings(oursList)
	t.Logf("image_sbom: %d packages and %d files: %s", len(oursList), len(doc.Files), strings.Join(oursList, " "))
	t.Logf("cdxgen %s: %d packages and %d files: %s", "12.8.4", len(peerList), peerFiles, strings.Join(peerList, " "))
	if len(missing) > 0 {
		t.Errorf("cdxgen finds what image_sbom misses: %v", missing)
	}
}

func hasDebPURL(m map[string]bool, prefix string) bool {
	for _, arch := range []string{"amd64", "all"} {
		for k := range m {
			if k == prefix+arch+"&distro=debian-12" || strings.HasPrefix(k, prefix+arch+"&distro=debian-12&") {
				return true
			}
		}
	}
	return false
}
