package base

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/debtest"
	"github.com/rules-img/rules_img/pkg/layer"
)

func noFill(s string) (string, error) { return s, nil }

func run(t *testing.T, verb string, opts any) []layer.Entry {
	t.Helper()
	raw, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Generators[verb](raw, noFill)
	if err != nil {
		t.Fatalf("%s: %v", verb, err)
	}
	return out
}

func runErr(t *testing.T, verb string, opts any) error {
	t.Helper()
	raw, _ := json.Marshal(opts)
	_, err := Generators[verb](raw, noFill)
	if err == nil {
		t.Fatalf("%s %s: no error", verb, raw)
	}
	return err
}

// byPath renders entries as path -> "type mode uid:gid target/content".
func byPath(es []layer.Entry) map[string]string {
	out := map[string]string{}
	for _, e := range es {
		s := e.Type
		if m := e.Metadata; m != nil {
			s += fmt.Sprintf(" %s %d:%d", *m.Mode, *m.UID, *m.GID)
		}
		if e.Target != "" {
			s += " -> " + e.Target
		}
		if e.Content != nil {
			s += " " + *e.Content
		}
		if e.Source != "" {
			s += " < " + filepath.Base(e.Source)
		}
		out[e.Path] = s
	}
	return out
}

func TestSkeleton(t *testing.T) {
	got := byPath(run(t, "skeleton", SkeletonOptions{UsrMerged: true}))
	for p, want := range map[string]string{
		"/lib":       "symlink 0777 0:0 -> usr/lib",
		"/usr/lib64": "dir 0755 0:0",
		"/tmp":       "dir 1777 0:0",
		"/var/tmp":   "dir 1777 0:0",
		"/root":      "dir 0700 0:0",
		"/proc":      "dir 0555 0:0",
		"/var/run":   "symlink 0777 0:0 -> ../run",
	} {
		if got[p] != want {
			t.Errorf("%s = %q, want %q", p, got[p], want)
		}
	}
	got = byPath(run(t, "skeleton", SkeletonOptions{Var: "disabled", Home: "disabled", Run: "disabled",
		ExtraDirectories: map[string]layer.Metadata{"/data": {Mode: ptr("0750"), UID: ptr(int64(1000))}}}))
	if got["/lib"] != "dir 0755 0:0" || got["/var"] != "" || got["/home"] != "" || got["/run"] != "" {
		t.Errorf("not merged, var/home/run disabled: %v", got)
	}
	if got["/data"] != "dir 0750 1000:0" {
		t.Errorf("extra directory = %q", got["/data"])
	}
	if err := runErr(t, "skeleton", SkeletonOptions{Tmp: "maybe"}); !strings.Contains(err.Error(), "tmp") {
		t.Errorf("bad group value: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func passwdOpts() PasswdOptions {
	return PasswdOptions{
		Users: []string{
			`{"username": "root", "uid": 0, "gid": 0, "home": "/root", "shell": "/bin/sh"}`,
			`{"username": "nonroot", "uid": 65532, "gid": 65532, "home": "/home/nonroot"}`,
		},
		Groups:                []string{`{"name": "root", "gid": 0}`, `{"name": "nonroot", "gid": 65532, "users": ["root"]}`},
		CreateHomeDirectories: true, WriteShadow: true,
		PasswdPath: "/etc/passwd", GroupPath: "/etc/group", ShadowPath: "/etc/shadow",
	}
}

func TestPasswd(t *testing.T) {
	got := byPath(run(t, "passwd", passwdOpts()))
	for p, want := range map[string]string{
		"/etc/passwd":   "file 0644 0:0 root:x:0:0::/root:/bin/sh\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n",
		"/etc/group":    "file 0644 0:0 root:x:0:\nnonroot:x:65532:root\n",
		"/etc/shadow":   "file 0640 0:0 root:!*:::::::\nnonroot:!*:::::::\n",
		"/root":         "dir 0700 0:0",
		"/home/nonroot": "dir 0750 65532:65532",
	} {
		if got[p] != want {
			t.Errorf("%s = %q, want %q", p, got[p], want)
		}
	}

	dir := t.TempDir()
	src := filepath.Join(dir, "passwd")
	os.WriteFile(src, []byte("# base\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"), 0o644)
	o := passwdOpts()
	o.PasswdSrcs = []string{src}
	if got := byPath(run(t, "passwd", o)); !strings.Contains(got["/etc/passwd"], "file 0644 0:0 daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nroot:") {
		t.Errorf("merged passwd = %q", got["/etc/passwd"])
	}

	for name, mutate := range map[string]func(*PasswdOptions){
		`name "root" is defined twice (users[0] and users[2])`: func(o *PasswdOptions) { o.Users = append(o.Users, `{"username": "root", "uid": 7, "gid": 7}`) },
		"user id 0 is used twice":                              func(o *PasswdOptions) { o.Users = append(o.Users, `{"username": "toor", "uid": 0, "gid": 0}`) },
		"group id 0 is used":                                   func(o *PasswdOptions) { o.Groups = append(o.Groups, `{"name": "wheel", "gid": 0}`) },
		"holds a ':'":                                          func(o *PasswdOptions) { o.Users = append(o.Users, `{"username": "a:b", "uid": 5, "gid": 5}`) },
		"who is no user":                                       func(o *PasswdOptions) { o.Groups = append(o.Groups, `{"name": "g", "gid": 9, "users": ["ghost"]}`) },
		"not a passwd_entry":                                   func(o *PasswdOptions) { o.Users = append(o.Users, `{"name": "x"}`) },
	} {
		o := passwdOpts()
		mutate(&o)
		if err := runErr(t, "passwd", o); !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestEtcFiles(t *testing.T) {
	got := byPath(run(t, "hosts", HostsOptions{IncludeDefaults: true, Path: "/etc/hosts",
		Hosts: []Pair{{"127.0.0.1", "app.local localhost"}, {"10.0.0.7", "db"}}}))
	want := "file 0644 0:0 127.0.0.1\tlocalhost app.local\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n10.0.0.7\tdb\n"
	if got["/etc/hosts"] != want {
		t.Errorf("hosts = %q, want %q", got["/etc/hosts"], want)
	}

	dir := t.TempDir()
	src := filepath.Join(dir, "environment")
	os.WriteFile(src, []byte("# comment\nLANG=C\nPATH=\"/bin\"\n"), 0o644)
	got = byPath(run(t, "environment", EnvironmentOptions{Srcs: []string{src}, Quote: true, Path: "/etc/environment",
		Env: []Pair{{"PATH", "/usr/bin:/bin"}, {"TZ", "UTC"}}}))
	if want := "file 0644 0:0 LANG=\"C\"\nPATH=\"/usr/bin:/bin\"\nTZ=\"UTC\"\n"; got["/etc/environment"] != want {
		t.Errorf("environment = %q, want %q", got["/etc/environment"], want)
	}
	if err := runErr(t, "environment", EnvironmentOptions{Path: "/etc/environment", Env: []Pair{{"1X", "y"}}}); !strings.Contains(err.Error(), "not a variable name") {
		t.Errorf("bad name: %v", err)
	}

	got = byPath(run(t, "release", ReleaseOptions{OSReleasePath: "/etc/os-release", UsrLibPath: "/usr/lib/os-release",
		UsrLibSymlink: true, LSBReleasePath: "/etc/lsb-release",
		OSRelease: []Pair{{"ID", "acme"}, {"PRETTY_NAME", `ACME "Base" $1`}}}))
	if want := "file 0644 0:0 ID=\"acme\"\nPRETTY_NAME=\"ACME \\\"Base\\\" \\$1\"\n"; got["/usr/lib/os-release"] != want {
		t.Errorf("os-release = %q, want %q", got["/usr/lib/os-release"], want)
	}
	if got["/etc/os-release"] != "symlink 0777 0:0 -> ../usr/lib/os-release" || got["/etc/lsb-release"] != "" {
		t.Errorf("os-release link = %q, lsb-release = %q", got["/etc/os-release"], got["/etc/lsb-release"])
	}
}

func TestTrustStore(t *testing.T) {
	dir := t.TempDir()
	// A key beside a certificate is skipped, not an error.
	withKey := filepath.Join(dir, "with_key.pem")
	pemA, _ := os.ReadFile("testdata/root_a.pem")
	os.WriteFile(withKey, append([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), pemA...), 0o644)
	got := byPath(run(t, "trust-store", TrustStoreOptions{
		// root_b three times (DER, PEM, in the PKCS#7 bundle), root_a twice.
		Certs:  []string{"testdata/root_b.der", withKey, "testdata/both.p7b", "testdata/root_b.pem"},
		Bundle: true, BundlePath: "/etc/ssl/certs/ca-certificates.crt", Exploded: true, ExplodedDir: "/etc/ssl/certs",
	}))
	pemB, _ := os.ReadFile("testdata/root_b.pem")
	// The hashes are what `openssl x509 -subject_hash` prints for these
	// certificates (their subjects need case folding, whitespace folding
	// and UTF-8).
	for p, want := range map[string]string{
		"/etc/ssl/certs/78dccaa8.0":          "symlink 0777 0:0 -> Example_ROOT_CA.pem",
		"/etc/ssl/certs/d51fbd34.0":          "symlink 0777 0:0 -> Wiese_Root.pem",
		"/etc/ssl/certs/Example_ROOT_CA.pem": "file 0644 0:0 " + string(pemA),
		"/etc/ssl/certs/ca-certificates.crt": "file 0644 0:0 " + string(pemA) + string(pemB),
		"/etc/ssl/certs/Wiese_Root.pem":      "file 0644 0:0 " + string(pemB),
	} {
		if got[p] != want {
			t.Errorf("%s = %q, want %q", p, got[p], want)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d entries, want 5 (each certificate once): %v", len(got), got)
	}
	notCert := filepath.Join(dir, "readme.txt")
	os.WriteFile(notCert, []byte("hello"), 0o644)
	if err := runErr(t, "trust-store", TrustStoreOptions{Certs: []string{notCert}, BundlePath: "/b", ExplodedDir: "/d"}); !strings.Contains(err.Error(), "readme.txt is not a certificate") {
		t.Errorf("not a certificate: %v", err)
	}
}

func TestSystemLibraries(t *testing.T) {
	got := byPath(run(t, "system-libraries", LibrariesOptions{
		Libs:   []string{"testdata/libtiny.so.1.2.3", "testdata/libtiny.so.1.2.3"},
		Libdir: "/usr/lib/x86_64-linux-gnu", LdsoConf: true, LdsoConfPath: "/etc/ld.so.conf.d/x86_64-linux-gnu.conf",
	}))
	for p, want := range map[string]string{
		"/usr/lib/x86_64-linux-gnu/libtiny.so.1.2.3": "file 0755 0:0 < libtiny.so.1.2.3",
		"/usr/lib/x86_64-linux-gnu/libtiny.so.1":     "symlink 0777 0:0 -> libtiny.so.1.2.3",
		"/etc/ld.so.conf.d/x86_64-linux-gnu.conf":    "file 0644 0:0 /usr/lib/x86_64-linux-gnu\n",
	} {
		if got[p] != want {
			t.Errorf("%s = %q, want %q", p, got[p], want)
		}
	}
	if err := runErr(t, "system-libraries", LibrariesOptions{Libs: []string{"testdata/root_a.pem"}, Libdir: "/usr/lib"}); !strings.Contains(err.Error(), "root_a.pem is not an ELF file") {
		t.Errorf("not ELF: %v", err)
	}
}

func TestMerge(t *testing.T) {
	skel := Description{Target: "//base:skeleton", Entries: []layer.Entry{dir("/tmp", 0o1777), symlink("/lib", "usr/lib")}}
	private := Description{Target: "//base:private_tmp", Entries: []layer.Entry{dir("/tmp", 0o700)}}
	got, err := Merge([]Description{skel, private})
	if err != nil {
		t.Fatal(err)
	}
	if m := byPath(got); m["/tmp"] != "dir 0700 0:0" || len(m) != 2 {
		t.Errorf("last one wins: %v", m)
	}
	got, err = Merge([]Description{{Target: "//t", Entries: []layer.Entry{file("/etc/ssl/certs/a.pem", "x", 0o644)}}})
	if m := byPath(got); err != nil || m["/etc"] != "dir 0755 0:0" || m["/etc/ssl/certs"] != "dir 0755 0:0" || len(m) != 4 {
		t.Errorf("parents: %v %v", m, err)
	}
	libsDir := Description{Target: "//base:libs", Entries: []layer.Entry{dir("/lib", 0o755)}}
	if _, err := Merge([]Description{skel, libsDir}); err == nil || !strings.Contains(err.Error(), `conflicting base metadata for "lib": //base:skeleton describes it as symlink, //base:libs as directory`) {
		t.Errorf("kind conflict: %v", err)
	}
	libs := Description{Target: "//base:libs", Entries: []layer.Entry{file("/lib/libc.so.6", "x", 0o755)}}
	if _, err := Merge([]Description{skel, libs}); err == nil || !strings.Contains(err.Error(), `//base:libs places "lib/libc.so.6" underneath "lib", which //base:skeleton describes as a symlink`) {
		t.Errorf("under a symlink: %v", err)
	}
}

func TestTrustStoreDebs(t *testing.T) {
	dir := t.TempDir()
	pemA, _ := os.ReadFile("testdata/root_a.pem")
	pemB, _ := os.ReadFile("testdata/root_b.pem")
	pkg := debtest.Write(t, dir, "ca-certificates", "Package: ca-certificates\n", "", []debtest.Entry{
		{Name: "./usr/share/ca-certificates/mozilla/A.crt", Mode: 0o644, Body: string(pemA)},
		{Name: "./usr/share/doc/ca-certificates/example.crt", Mode: 0o644, Body: "not read: outside the CA directories"},
		{Name: "./usr/share/ca-certificates/mozilla/B.crt", Mode: 0o644, Body: string(pemB)},
	})
	got := byPath(run(t, "trust-store", TrustStoreOptions{
		Certs: []string{"testdata/root_b.der"}, Debs: []string{pkg},
		Bundle: true, BundlePath: "/etc/ssl/certs/ca-certificates.crt", ExplodedDir: "/etc/ssl/certs",
	}))
	if want := "file 0644 0:0 " + string(pemA) + string(pemB); got["/etc/ssl/certs/ca-certificates.crt"] != want || len(got) != 1 {
		t.Errorf("bundle from a package = %v", got)
	}
	corp := debtest.WriteRPM(t, dir, "corp-ca", []debtest.RPMFile{{Name: "./etc/pki/ca-trust/source/anchors/corp.pem", Body: string(pemB)}})
	got = byPath(run(t, "trust-store", TrustStoreOptions{RPMs: []string{corp}, Bundle: true, BundlePath: "/b", ExplodedDir: "/d"}))
	if got["/b"] != "file 0644 0:0 "+string(pemB) {
		t.Errorf("bundle from an RPM = %v", got)
	}
	empty := debtest.Write(t, dir, "libc6", "Package: libc6\n", "", []debtest.Entry{{Name: "./usr/lib/libc.so.6", Mode: 0o755, Body: "ELF"}})
	if err := runErr(t, "trust-store", TrustStoreOptions{Debs: []string{empty}, BundlePath: "/b", ExplodedDir: "/d"}); !strings.Contains(err.Error(), "libc6.deb holds no certificate under usr/share/ca-certificates/, ") {
		t.Errorf("a package without certificates: %v", err)
	}
}

func TestLdsoCache(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "ld.so.cache")
	// Real libraries from this machine: the cache only reads their headers.
	var libs []string
	for _, name := range []string{"libc.so.6", "libm.so.6", "libpthread.so.0"} {
		p := filepath.Join("/usr/lib/x86_64-linux-gnu", name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v (the test reads the host's x86_64 glibc)", p, err)
		}
		libs = append(libs, p)
	}
	got := byPath(run(t, "system-libraries", LibrariesOptions{Libs: append(libs, "testdata/libtiny.so.1.2.3"), Libdir: "/usr/lib/x86_64-linux-gnu", LdsoCache: cache}))
	if got["/etc/ld.so.cache"] != "file 0644 0:0 < ld.so.cache" {
		t.Fatalf("no cache entry: %v", got)
	}
	// glibc's own reader must list every library with its ABI.
	ldconfig, err := exec.LookPath("ldconfig")
	if err != nil {
		ldconfig = "/sbin/ldconfig" // not on the PATH Bazel gives tests
	}
	out, err := exec.Command(ldconfig, "-p", "-C", cache).CombinedOutput()
	if err != nil {
		t.Fatalf("ldconfig -p: %v\n%s", err, out)
	}
	for _, want := range []string{
		"4 libs found in cache",
		"libtiny.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libtiny.so.1",
		"libpthread.so.0 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libpthread.so.0",
		"libm.so.6 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libm.so.6",
		"libc.so.6 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libc.so.6",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ldconfig -p lacks %q:\n%s", want, out)
		}
	}
	// The loader's binary search needs glibc's order: libtiny before libpthread
	// before libm before libc (descending, digits as numbers).
	if i, j := strings.Index(string(out), "libtiny"), strings.Index(string(out), "libc.so"); i > j {
		t.Errorf("entries out of the loader's order:\n%s", out)
	}
	if libcmp("libfoo.so.10", "libfoo.so.9") <= 0 || libcmp("lib2", "liba") <= 0 || libcmp("a", "ab") >= 0 {
		t.Error("libcmp does not order as glibc's _dl_cache_libcmp")
	}
}

func TestJavaKeystore(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) []byte {
		ks := filepath.Join(dir, name)
		got := byPath(run(t, "trust-store", TrustStoreOptions{
			Certs: []string{"testdata/both.p7b"}, BundlePath: "/b", ExplodedDir: "/d",
			JavaKeystore: ks, JavaKeystorePassword: "changeit", JavaKeystorePath: "/etc/ssl/certs/java/cacerts",
		}))
		if got["/etc/ssl/certs/java/cacerts"] != "file 0644 0:0 < "+name {
			t.Fatalf("no keystore entry: %v", got)
		}
		b, err := os.ReadFile(ks)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := write("a.p12"), write("b.p12")
	if string(a) != string(b) {
		t.Error("the same certificates gave two different keystores")
	}
	// The JDK's own tool reads it as a truststore of both CAs.
	out, err := exec.Command("keytool", "-list", "-keystore", filepath.Join(dir, "a.p12"), "-storetype", "PKCS12", "-storepass", "changeit").CombinedOutput()
	if err != nil {
		t.Fatalf("keytool: %v\n%s", err, out)
	}
	for _, want := range []string{"Your keystore contains 2 entries", "example_root_ca, ", "wiese_root, "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("keytool -list lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(string(out), "trustedCertEntry"); n != 2 {
		t.Errorf("%d trusted certificate entries, want 2:\n%s", n, out)
	}
}
