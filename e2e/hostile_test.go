//go:build e2e

package e2e

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rules-img/rules_img/e2e/harness"
)

// The catalogue of hostile and careless inputs: bad attribute values,
// malformed specs and metadata, hostile tars, misbehaving registries and
// daemons, and an interrupted push. Each case asserts the exact first line
// of its error (it names the target and the fix), that nothing was left
// half-written, that no tag was written, and that the secret of the docker
// config in use was never printed.

// secret is the password in the docker config every run case uses.
const secret = "hunter2-e2e-s3cr3t"

type hostileCase struct {
	name string
	// run returns everything the failing command printed.
	run func(t *testing.T) string
	// prefix finds the error's first line: the first line that starts with
	// it (the prefix itself is not part of want).
	prefix string
	want   string
	// after checks that nothing was half-written and no tag was written.
	after func(t *testing.T)
}

func TestHostileInputs(t *testing.T) {
	bin, err := ws.Info("bazel-bin")
	if err != nil {
		t.Fatal(err)
	}
	wsDir := ws.Workspace

	// build: a target that must fail in `bazel build`, leaving none of its
	// outputs (blob, metadata, manifest, config, descriptor, .partial).
	build := func(target string, flags ...string) func(t *testing.T) string {
		return func(t *testing.T) string {
			r := ws.Run(append([]string{"build", target}, flags...)...)
			if r.Err == nil {
				t.Fatalf("bazel build %s succeeded; want a failure", target)
			}
			return r.Stdout + r.Stderr
		}
	}
	noOutputs := func(target string) func(t *testing.T) {
		pkg, name, _ := strings.Cut(strings.TrimPrefix(target, "//"), ":")
		return func(t *testing.T) {
			matches, _ := filepath.Glob(filepath.Join(bin, pkg, name+".*"))
			for _, m := range matches {
				if !strings.HasSuffix(m, ".config_spec.json") && !strings.HasSuffix(m, ".layer_spec.json") && !strings.HasSuffix(m, ".base_options.json") {
					t.Errorf("failed build left %s behind", m)
				}
			}
			filepath.WalkDir(filepath.Join(bin, pkg), func(p string, d fs.DirEntry, err error) error {
				if err == nil && strings.HasSuffix(p, ".partial") {
					t.Errorf("failed build left %s behind", p)
				}
				return nil
			})
		}
	}

	buildCase := func(target, prefix, want string) hostileCase {
		return hostileCase{name: target, run: build(target), prefix: prefix, want: want, after: noOutputs(target)}
	}
	analysisCase := func(target, want string) hostileCase {
		return hostileCase{name: target, run: build(target), prefix: "Error in fail: ", want: want, after: nothing}
	}
	tarCase := func(name, tarFile, want string) hostileCase {
		target := "//hostile:" + name
		return buildCase(target, "img layer: ", target+": hostile/"+tarFile+": "+want)
	}

	cases := []hostileCase{
		// Hostile tars through layer_from_tar.
		tarCase("traversal", "traversal.tar.gz", `entry "../../etc/evil" escapes the layer root ('..'): rebuild the tar without it (validation = "traversal_only" still refuses this)`),
		tarCase("traversal_recompressed", "traversal.tar.gz", `entry "../../etc/evil" escapes the layer root ('..'): rebuild the tar without it (validation = "traversal_only" still refuses this)`),
		tarCase("traversal_as_is", "traversal.tar.gz", `entry "../../etc/evil" escapes the layer root ('..'): rebuild the tar without it (validation = "traversal_only" still refuses this)`),
		tarCase("symlink_escape", "symlink_escape.tar", `entry "etc2/passwd" lies below "etc2", a symlink earlier in the tar, so it would be written where the link points: rebuild the tar without it (validation = "traversal_only" still refuses this)`),
		tarCase("symlink_escape_as_is", "symlink_escape.tar", `entry "etc2/passwd" lies below "etc2", a symlink earlier in the tar, so it would be written where the link points: rebuild the tar without it (validation = "traversal_only" still refuses this)`),
		tarCase("dangling_hardlink", "dangling_hardlink.tar", `entry "a/b" is a hardlink to "does/not/exist", which is not a file earlier in the tar: put the target before the link, or set validation = "traversal_only" to pass a vendor's tar through as it is`),
		tarCase("duplicate", "duplicate.tar", `entry "a" occurs twice in the tar, and which one a runtime keeps differs: remove one, or set allow_duplicate_paths = True (the later entry wins)`),
		tarCase("device", "device.tar", `entry "dev/null2" is a character device: remove it from the tar, or set allow_device_files = True (unpacking it then needs privileges)`),
		tarCase("unknown_type", "unknown_type.tar", `entry "volume-label" has tar type "V", which a layer cannot carry: rebuild the tar, or set validation = "traversal_only" to pass a vendor's tar through as it is`),
		tarCase("global_header", "global_header.tar", `entry "pax_global_header" is a global PAX header with a "path" record, which changes later entries for some extractors: rebuild the tar without it (validation = "traversal_only" still refuses this)`),
		tarCase("not_a_tar", "not_a_tar.tar", `input is not a tar (not compressed): unexpected EOF: src must be a tar archive, uncompressed or in gzip or zstd`),
		tarCase("empty", "empty.tar", `input is empty: src must be a tar archive, which holds at least its end-of-archive marker`),
		tarCase("truncated", "truncated.tar.gz", `input is not a tar (gzip, cut short): unexpected EOF: rebuild the file; it may be truncated`),

		analysisCase("//deploy:bad_filter", `//deploy:bad_filter: deploy_operations: "publish" is not one of push, load`),
		analysisCase("//deploy:bad_manifest_tags", `//deploy:bad_manifest_tags: manifest_tags tag each manifest of an image_index, and //hello:image is a single image_manifest; use tag or tag_list`),
		analysisCase("//deploy:bad_spec_kind", `//deploy:bad_spec_kind: push_specs: //deploy:a_load_spec is an image_load_spec; put it in load_specs`),
		analysisCase("//deploy:bad_no_specs", `//deploy:bad_no_specs: operations: //hello:image is an image without push_specs or load_specs; give it some, or name an image_push or image_load of it`),
		buildCase("//upstream_deploy:bad_media_type", "img layer: ", `//upstream_deploy:bad_media_type: media_type application/vnd.oci.image.layer.v1.tar+gzip says gzip-compressed, and the layer is zstd-compressed: choose a media type of its compression, or change compress`),
		analysisCase("//deploy:bad_created", `//deploy:bad_created: created and created_timestamp both set the creation time; keep one`),
		analysisCase("//deploy:bad_signing_config", `//deploy:bad_signing_config: set exactly one of tool (a Bazel-built plugin, e.g. @rules_img//img/signer:cosign) and tool_command (a plugin on PATH)`),
		analysisCase("//deploy:bad_sign_without_config", `//deploy:bad_sign_without_config: sign = enabled and no signing_config: set sign_setting, or --@rules_img//img/settings:sign_setting`),
		analysisCase("//upstream:bad_soci_span", `//upstream:bad_soci_span: soci_span_size = 0: use a positive number of bytes, or -1 for --@rules_img//img/settings:soci_span_size`),
		analysisCase("//upstream:bad_layer_budget", `//upstream:bad_layer_budget: layer_budget = -1: use 0 (no limit) or more`),
		analysisCase("//hello:wrong_variant", `//hello:image: the target platform's @rules_img//img/constraints/amd64:v3 is for amd64, but its cpu makes the image arm64; use a variant of //img/constraints/arm64`),

		// Base image pieces that contradict each other or are not what
		// they claim to be.
		buildCase("//bad_base:conflict", "img layer: ", `//bad_base:conflict: //bad_base:libs_unmerged places "lib/x86_64-linux-gnu/libc.so.6" underneath "lib", which //bad_base:skeleton describes as a symlink rather than a directory; move one of them`),
		buildCase("//bad_base:not_a_cert", "img base: ", `//bad_base:not_a_cert: certs: bad_base/BUILD.bazel is not a certificate in PEM, DER or PKCS#7 form; give PEM, DER or PKCS#7 certificate files`),
		buildCase("//bad_base:duplicate_uid", "img base: ", `//bad_base:duplicate_uid: user id 0 is used twice (users[0] and users[1]); give each its own`),
		buildCase("//bad_base:not_a_library", "img base: ", `//bad_base:not_a_library: bad_base/BUILD.bazel is not an ELF file; libs takes shared objects (.so files)`),
		analysisCase("//bad_base:not_a_deb", `//bad_base:not_a_deb: debs: bad_base/BUILD.bazel is not a .deb; give a package file or a deb_package (@REPO//NAME:data or :deb)`),
		buildCase("//bad_base:not_an_rpm", "img base: ", `//bad_base:not_an_rpm: rpms: bad_base/not-a-package.rpm: not an RPM package: it does not start with an RPM lead`),

		// Bad attribute values.
		{name: "//hostile_attr:bad_validation", run: build("//hostile_attr:bad_validation"), prefix: "ERROR: ",
			want:  wsDir + `/hostile_attr/BUILD.bazel:4:15: //hostile_attr:bad_validation: invalid value in 'validation' attribute: has to be one of 'strict' or 'traversal_only' instead of 'lenient'`,
			after: nothing},
		{name: "//bad_compress:unknown_compression", run: build("//bad_compress:unknown_compression"), prefix: "ERROR: ",
			want:  wsDir + `/bad_compress/BUILD.bazel:5:12: //bad_compress:unknown_compression: invalid value in 'compress' attribute: has to be one of 'auto', 'gzip', 'zstd', 'zstd-long' or 'none' instead of 'brotli'`,
			after: nothing},
		analysisCase("//bad_estargz:zstd", `//bad_estargz:zstd: eStargz is enabled (its estargz attribute or --@rules_img//img/settings:estargz) but the layer's compression is zstd; eStargz is gzip with a table of contents: set compress = "gzip" (or --@rules_img//img/settings:compress=gzip), or estargz = "disabled"`),
		buildCase("//bad:duplicate_path", "img layer: ", `//bad:duplicate_path: two sources for /etc/greeting.txt: bad/file.txt and symlink to /other; remove one from srcs`),
		analysisCase("//bad:dotdot_path", `//bad:dotdot_path: srcs: "/app/../etc/passwd" has an empty, '.' or '..' component; write the plain path, e.g. '/app/bin/server'`),
		analysisCase("//bad:bad_metadata", `//bad:bad_metadata: file_metadata["/etc/greeting.txt"]: "{mode: 0755" is not file metadata; build it with file_metadata(mode = "0755", uid = 0, ...)`),
		buildCase("//bad:bad_mode", "img layer: ", `//bad:bad_mode: file_metadata["/etc/greeting.txt"]: bad mode "rwx"; use an octal string from "0000" to "7777", like "0755"`),
		buildCase("//bad:pkg_duplicate_path", "img layer: ", `//bad:pkg_duplicate_path: two sources for /etc/file.txt: bad/file.txt and symlink to /other; remove one from srcs`),
		buildCase("//artifact:artifact_with_env", "img manifest: ", `//artifact:artifact_with_env: config_media_type application/vnd.oci.empty.v1+json makes an artifact, which has no image config: remove env`),
		analysisCase("//bad:pkg_bad_mode", `//bad:pkg_bad_mode: //bad:pkg_rwx_file (through srcs) has mode = "rwx"; give an octal string from "0000" to "7777", e.g. pkg_attributes(mode = "0755")`),
		buildCase("//bad:unknown_platform", "img manifest: ", `//bad:unknown_platform: unknown platform "linux/mips128": use one of `+knownPlatforms),
		{name: "//bad:platform_without_cpu", run: build("//bad:platform_without_cpu", "--platforms=//platforms:linux_nocpu"), prefix: "Error in fail: ",
			want:  `//bad:platform_without_cpu: cannot tell the image platform from the target platform: it needs an os constraint (@platforms//os:linux, @platforms//os:windows, @platforms//os:freebsd) and a cpu constraint (@platforms//cpu:x86_64, @platforms//cpu:aarch64, @platforms//cpu:armv7, @platforms//cpu:x86_32, @platforms//cpu:ppc64le, @platforms//cpu:s390x, @platforms//cpu:riscv64) from @platforms, or set platform = "linux/amd64"`,
			after: nothing},
		buildCase("//hostile:bad_port", "img manifest: ", `//hostile:bad_port: bad exposed port "http": want PORT or PORT/PROTOCOL with PORT 1-65535, e.g. 80/tcp`),
		buildCase("//hostile:bad_env", "img manifest: ", `//hostile:bad_env: bad env name "A=B": use letters, digits and _, not starting with a digit`),
		analysisCase("//hostile:push_bad_tag", `//hostile:push_bad_tag: tag "v1:latest" is not a valid tag: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-' (a tag is only the part after ':'; set the repository separately)`),
		analysisCase("//hostile:push_no_registry", `//hostile:push_no_registry: no registry: set registry (e.g. "ghcr.io"), destination_file, or --@rules_img//img/settings:destination_registry`),
		analysisCase("//hostile:push_destination_and_registry", `//hostile:push_destination_and_registry: destination_file names the registry and repository; remove registry and repository, or destination_file`),
		analysisCase("//hostile:layers_not_tars", `//hostile:layers_not_tars: layers: //hostile:broken.json is neither a layer (image_layer, layer_from_tar, ...) nor tar files (.tar, .tar.gz, .tgz, .tar.zst, .tar.zstd, .tzst): it gives hostile/broken.json. Wrap it in layer_from_tar or image_layer.`),
		analysisCase("//hostile:push_bad_repository", `//hostile:push_bad_repository: repository "E2E/Hostile" is not a valid name: use lowercase letters, digits and '.', '_' or '-' between them, with '/' between path parts, e.g. "team/app"`),

		// Malformed specs and metadata: a config fragment and a user's own
		// LayerInfo rule.
		buildCase("//hostile:bad_entrypoint_json", "img manifest: ", `//hostile:bad_entrypoint_json: config fragment hostile/broken.json: not an image config: unexpected end of JSON input: it must be a JSON OCI image config`),
		buildCase("//hostile:on_broken_metadata", "img manifest: ", `//hostile:on_broken_metadata: bazel-out/k8-fastbuild/bin/hostile/broken_metadata.layer.json: not layer metadata: unexpected end of JSON input: a rule that returns LayerInfo must write the JSON img layer writes (mediaType, digest, size, diffID)`),
		buildCase("//hostile:on_wrong_digest_metadata", "img manifest: ", `//hostile:on_wrong_digest_metadata: layer 1: digest "md5:abc" is not sha256:<64 lowercase hex digits>: a rule that returns LayerInfo must write the JSON img layer writes (mediaType, digest, size, diffID)`),
	}
	cases = append(cases, runCases(t)...)
	if len(cases) < 30 {
		t.Fatalf("the catalogue holds %d cases; it promises at least 30", len(cases))
	}
	for _, c := range cases {
		t.Run(strings.TrimPrefix(c.name, "//"), func(t *testing.T) {
			out := c.run(t)
			got, ok := firstLineWith(out, c.prefix)
			if !ok {
				t.Fatalf("no line starts with %q:\n%s", c.prefix, tailLines(out, 40))
			}
			if got != c.want {
				t.Errorf("first line of the error:\n got: %s\nwant: %s", got, c.want)
			}
			if strings.Contains(out, secret) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte("e2e:"+secret))) {
				t.Errorf("the output holds the secret:\n%s", out)
			}
			c.after(t)
		})
	}
}

func firstLineWith(out, prefix string) (string, bool) {
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			return rest, true
		}
	}
	return "", false
}

// runCases are the `bazel run` targets and the pull repository rule's
// command against registries and daemons that misbehave.
func runCases(t *testing.T) []hostileCase {
	dir, err := harness.TempDir("hostile")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	servers := map[string]*harness.Hostile{}
	serve := func(name string, h http.HandlerFunc) *harness.Hostile {
		s, err := harness.StartHostile(h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		servers[name] = s
		return s
	}
	html := serve("html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>\n<p>upstream went away</p></body></html>")
	})
	loop := serve("loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.String(), http.StatusTemporaryRedirect)
	})
	challenge := serve("challenge", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="x`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// The token endpoint answers with an HTML login page.
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body>Please sign in</body></html>")
	})

	// A docker config with credentials for every server: no case may print them.
	cfgDir := filepath.Join(dir, "docker")
	os.MkdirAll(cfgDir, 0o755)
	auths := map[string]any{}
	for _, s := range servers {
		auths[s.Addr()] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("e2e:" + secret))}
	}
	cfg, _ := json.Marshal(map[string]any{"auths": auths})
	os.WriteFile(filepath.Join(cfgDir, "config.json"), cfg, 0o600)
	env := []string{"DOCKER_CONFIG=" + cfgDir}

	launcher, lenv := launcherOf(t, "hostile", "push")
	runLauncher := func(extraEnv []string, args ...string) string {
		cmd := exec.Command(launcher, args...)
		cmd.Env = append(append(append(os.Environ(), lenv...), env...), extraEnv...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("%s %v succeeded; want a failure:\n%s", launcher, args, out)
		}
		return string(out)
	}
	push := func(s *harness.Hostile) func(t *testing.T) string {
		return func(t *testing.T) string { return runLauncher(nil, "--registry", s.Addr()) }
	}
	noTagOn := func(s *harness.Hostile) func(t *testing.T) {
		return func(t *testing.T) {
			if w := s.TagWrites(); len(w) > 0 {
				t.Errorf("manifest or tag writes reached the registry: %v", w)
			}
		}
	}

	loadLauncher, loadEnv := launcherOf(t, "hostile", "load")
	load := func(extraEnv []string, args ...string) func(t *testing.T) string {
		return func(t *testing.T) string {
			cmd := exec.Command(loadLauncher, args...)
			cmd.Env = append(append(append(os.Environ(), loadEnv...), env...), extraEnv...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("load %v succeeded; want a failure:\n%s", args, out)
			}
			return string(out)
		}
	}
	garbage, err := harness.StartGarbageSocket(filepath.Join(dir, "garbage.sock"), []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>not a daemon</html>"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(garbage.Stop)
	noPartials := func(root string) func(t *testing.T) {
		return func(t *testing.T) {
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					t.Errorf("failed command left %s behind", p)
				}
				return nil
			})
		}
	}
	tarOut := filepath.Join(dir, "tarball")
	os.MkdirAll(tarOut, 0o755)

	// Pull: the repository rule runs `img pull`; run it the same way.
	img, err := harness.ImgBinary()
	if err != nil {
		t.Fatal(err)
	}
	cfgJSON := []byte(`{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}`)
	manifestJSON := []byte(fmt.Sprintf(`{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "%s", "size": %d}, "layers": []}`, sha(cfgJSON), len(cfgJSON)))
	huge := []byte(`{"schemaVersion": 2, "annotations": {"x": "` + strings.Repeat("A", 5<<20) + `"}}`)
	registryOf := func(manifest []byte, blob func(w http.ResponseWriter)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/v2/":
				w.WriteHeader(http.StatusOK)
			case strings.Contains(r.URL.Path, "/manifests/"):
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				w.Write(manifest)
			case strings.Contains(r.URL.Path, "/blobs/"):
				blob(w)
			default:
				http.NotFound(w, r)
			}
		}
	}
	truncatedBlob := serve("truncated", registryOf(manifestJSON, func(w http.ResponseWriter) {
		w.Header().Set("Content-Length", fmt.Sprint(len(cfgJSON)))
		w.Write(cfgJSON[:len(cfgJSON)/2])
	}))
	wrongBlob := serve("wrong-blob", registryOf(manifestJSON, func(w http.ResponseWriter) {
		w.Write([]byte(strings.Replace(string(cfgJSON), "amd64", "arm64", 1)))
	}))
	hugeManifest := serve("huge", registryOf(huge, nil))
	htmlManifest := serve("html-200", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body>Welcome to our registry portal</body></html>")
	})
	pullOut := filepath.Join(dir, "pull")
	pull := func(s *harness.Hostile, digest string) func(t *testing.T) string {
		return func(t *testing.T) string {
			os.RemoveAll(pullOut)
			os.MkdirAll(pullOut, 0o755)
			cmd := exec.Command(img, "pull", "--registry", s.Addr(), "--repository", "e2e/base", "--digest", digest, "--out", pullOut, "--name", "hostile_base")
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("img pull from %s succeeded; want a failure:\n%s", s.Addr(), out)
			}
			return string(out)
		}
	}
	md := sha(manifestJSON)

	cases := []hostileCase{
		{name: "push to an HTML error page", run: push(html), prefix: "FAILED  ",
			want:  "//hostile:push: " + html.Addr() + "/e2e/hostile: " + html.Addr() + " failed with HTTP 502, still after 5 attempts: the registry has a problem; retry later",
			after: noTagOn(html)},
		{name: "push into a redirect loop", run: push(loop), prefix: "FAILED  ",
			want:  "//hostile:push: " + loop.Addr() + "/e2e/hostile: " + loop.Addr() + redirectLoop,
			after: noTagOn(loop)},
		{name: "push with a broken auth challenge", run: push(challenge), prefix: "FAILED  ",
			want:  "//hostile:push: " + challenge.Addr() + "/e2e/hostile: " + challenge.Addr() + notJSON,
			after: noTagOn(challenge)},
		{name: "push to nothing listening", run: func(t *testing.T) string { return runLauncher(nil, "--registry", "127.0.0.1:1") }, prefix: "FAILED  ",
			want:  "//hostile:push: 127.0.0.1:1/e2e/hostile: cannot connect to 127.0.0.1:1: connection refused: is the registry running and is the address right?",
			after: nothing},
		{name: "load into a missing containerd", run: load([]string{"CONTAINERD_ADDRESS=" + filepath.Join(dir, "none.sock")}), prefix: "FAILED  ",
			want:  "//hostile:load: load into containerd: no containerd socket at " + filepath.Join(dir, "none.sock") + ": start containerd or set CONTAINERD_ADDRESS (or --containerd-address) to containerd's socket",
			after: nothing},
		{name: "load into a socket that answers garbage", run: load([]string{"CONTAINERD_ADDRESS=" + garbage.Path}), prefix: "FAILED  ",
			want:  "//hostile:load: load into containerd: containerd socket " + garbage.Path + ` does not answer as containerd: connection error: desc = "error reading server preface: http2: failed reading the frame payload: http2: frame too large, note that the frame header looked like an HTTP/1.1 header"`,
			after: nothing},
		{name: "load into a docker that answers garbage", run: load([]string{"DOCKER_HOST=unix://" + garbage.Path}, "--daemon", "docker"), prefix: "FAILED  ",
			want:  "//hostile:load: load into docker: docker info: no Docker server answered at unix://" + garbage.Path + " (Error reading remote info: invalid character '<' looking for beginning of value): start Docker or set DOCKER_HOST",
			after: nothing},
		{name: "tarball without an output", run: load(nil, "--daemon", "tar"), prefix: "FAILED  ",
			want:  "//hostile:load: daemon tar writes a docker-save tarball: pass --output FILE",
			after: noPartials(tarOut)},
		{name: "pull a truncated config", run: pull(truncatedBlob, md), prefix: "img pull: ", want: "hostile_base (" + truncatedBlob.Addr() + "/e2e/base@" + md + "): config of manifest: connection to " + truncatedBlob.Addr() + " broke, still after 4 attempts: unexpected EOF", after: noPartials(pullOut)},
		{name: "pull a config with the wrong digest", run: pull(wrongBlob, md), prefix: "img pull: ", want: "hostile_base (" + wrongBlob.Addr() + "/e2e/base@" + md + "): config of manifest: digest mismatch: expected " + sha(cfgJSON) + ", registry sent content with digest " + sha([]byte(strings.Replace(string(cfgJSON), "amd64", "arm64", 1))), after: noPartials(pullOut)},
		{name: "pull a manifest with the wrong digest", run: pull(wrongBlob, sha([]byte("another manifest"))), prefix: "img pull: ", want: "hostile_base (" + wrongBlob.Addr() + "/e2e/base@" + sha([]byte("another manifest")) + "): root manifest: digest mismatch: expected " + sha([]byte("another manifest")) + ", registry sent content with digest " + md, after: noPartials(pullOut)},
		{name: "pull a huge manifest", run: pull(hugeManifest, sha(huge)), prefix: "img pull: ", want: "hostile_base (" + hugeManifest.Addr() + "/e2e/base@" + sha(huge) + "): root manifest: " + hugeManifest.Addr() + " sent more bytes than the descriptor's size, or over 4 MiB for a manifest: check the digest; this is not the document it names", after: noPartials(pullOut)},
		{name: "pull an HTML page", run: pull(htmlManifest, md), prefix: "img pull: ", want: "hostile_base (" + htmlManifest.Addr() + "/e2e/base@" + md + "): root manifest: digest mismatch: expected " + md + ", registry sent content with digest " + sha([]byte("<html><body>Welcome to our registry portal</body></html>")), after: noPartials(pullOut)},
		{name: "pull from a redirect loop", run: pull(loop, md), prefix: "img pull: ", want: "hostile_base (" + loop.Addr() + "/e2e/base@" + md + "): " + loop.Addr() + redirectLoop, after: noPartials(pullOut)},
		{name: "pull with a broken auth challenge", run: pull(challenge, md), prefix: "img pull: ", want: "hostile_base (" + challenge.Addr() + "/e2e/base@" + md + "): " + challenge.Addr() + notJSON, after: noPartials(pullOut)},
	}
	return append(cases, realRegistryCases(t, runLauncher)...)
}

// nothing: the case has no outputs to check (analysis failures produce no
// file at all; a refused connection reached no registry).
func nothing(*testing.T) {}

const (
	redirectLoop   = " redirects in a loop (gave up after 10 redirects): check the registry address; a proxy or login page may be in front of the registry"
	notJSON        = " (or its token service) answered with something other than JSON, likely an HTML page: check the registry address; a proxy or login page may be in front of the registry"
	knownPlatforms = "linux/amd64, linux/arm64, linux/arm, linux/386, linux/loong64, linux/mips, linux/mips64, linux/mips64le, linux/mipsle, linux/ppc64, linux/ppc64le, linux/riscv64, linux/s390x, windows/amd64, windows/arm64, windows/386, windows/arm, aix/ppc64, android/386, android/amd64, android/arm, android/arm64, darwin/amd64, darwin/arm64, dragonfly/amd64, freebsd/386, freebsd/amd64, freebsd/arm, freebsd/arm64, freebsd/riscv64, illumos/amd64, ios/amd64, ios/arm64, js/wasm, netbsd/386, netbsd/amd64, netbsd/arm, netbsd/arm64, openbsd/386, openbsd/amd64, openbsd/arm, openbsd/arm64, openbsd/ppc64, openbsd/riscv64, plan9/386, plan9/amd64, plan9/arm, solaris/amd64, wasip1/wasm"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// realRegistryCases run against CNCF Distribution behind a proxy that
// misbehaves in one way: the registry's tags show what was written.
func realRegistryCases(t *testing.T, runLauncher func([]string, ...string) string) []hostileCase {
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	imageDigest := descriptorOf(t, ws, "//hostile:image").Digest
	noTags := func(repo string) func(t *testing.T) {
		return func(t *testing.T) {
			resp, err := http.Get("http://" + reg.Addr() + "/v2/" + repo + "/tags/list")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var tags struct{ Tags []string }
			json.NewDecoder(resp.Body).Decode(&tags)
			if len(tags.Tags) > 0 {
				t.Errorf("the failed push left tags %v in %s", tags.Tags, repo)
			}
		}
	}
	// The registry says it stored the manifest under another digest.
	rewrites, err := harness.StartRewriteProxy(reg.Addr(), func(r *http.Request, resp *http.Response) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			resp.Header.Set("Docker-Content-Digest", sha([]byte("something else")))
		}
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rewrites.Stop)
	// Blob uploads hang long enough for a Ctrl-C.
	slow, err := harness.StartRewriteProxy(reg.Addr(), nil, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(slow.Stop)

	interrupt := func(t *testing.T) string {
		launcher, lenv := launcherOf(t, "hostile", "push")
		cmd := exec.Command(launcher, "--registry", slow.Addr(), "--repository", "e2e/interrupted")
		cmd.Env = append(os.Environ(), lenv...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for slow.Uploads() == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if slow.Uploads() == 0 {
			t.Fatalf("the push never started an upload:\n%s", out.String())
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		start := time.Now()
		err := cmd.Wait()
		if err == nil {
			t.Fatal("the interrupted push succeeded")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("the push took %s to stop after SIGINT", d)
		}
		return out.String()
	}
	return []hostileCase{
		{name: "push to a registry that rewrites the manifest", run: func(t *testing.T) string {
			return runLauncher(nil, "--registry", rewrites.Addr(), "--repository", "e2e/rewritten")
		}, prefix: "FAILED  ", want: "//hostile:push: pushing manifest " + imageDigest + " (application/vnd.oci.image.manifest.v1+json, linux/amd64) to " + rewrites.Addr() + "/e2e/rewritten: registry stored it as " + sha([]byte("something else")) + ", not " + imageDigest + ": it rewrote the manifest",
			after: noTags("e2e/rewritten")},
		{name: "push interrupted by SIGINT", run: interrupt, prefix: "FAILED  ",
			want:  "//hostile:push: interrupted before the push finished: run it again to finish (tags are written last, so none points at an incomplete image)",
			after: noTags("e2e/interrupted")},
	}
}

// What the layer_from_tar attributes allow, they allow, with the tar's bytes
// kept; names become canonical; and containerd unpacks the result.
func TestLayerFromTarRules(t *testing.T) {
	src := filepath.Join(ws.Workspace, "hostile")
	for name, tarFile := range map[string]string{
		"duplicate_allowed": "duplicate.tar",
		"device_allowed":    "device.tar",
		"vendor":            "vendor.tar",
	} {
		target := "//hostile:" + name
		if _, err := ws.Must("build", target); err != nil {
			t.Fatal(err)
		}
		files, err := ws.OutputFiles(target, "")
		if err != nil {
			t.Fatal(err)
		}
		var blob string
		for _, f := range files {
			if strings.HasSuffix(f, ".layer_blob") {
				blob = f
			}
		}
		if blob == "" || sha256File(t, blob) != sha256File(t, filepath.Join(src, tarFile)) {
			t.Errorf("%s: the layer is not %s byte for byte (%v)", target, tarFile, files)
		}
	}

	layout := layoutOf(t, ws, "//hostile:image")
	var man manifest
	readJSON(t, blobPath(layout, rootOf(t, layout).Digest), &man)
	if len(man.Layers) != 1 || man.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Fatalf("layers: %+v", man.Layers)
	}
	var got []string
	walkLayer(t, blobPath(layout, man.Layers[0].Digest), man.Layers[0].MediaType, func(h *tar.Header, r io.Reader) {
		e := h.Name
		if h.Linkname != "" {
			e += " -> " + h.Linkname
		}
		got = append(got, e)
	})
	want := []string{"etc/", "etc/motd", "etc/issue", "etc/motd.hard -> etc/motd"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("canonical layer holds %v, want %v", got, want)
	}
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrd.Stop)
	if err := ctrd.ImportLayout(layout, "e2e/canonical:v1"); err != nil {
		t.Fatalf("containerd cannot import the canonical layer: %v", err)
	}
}
