package deb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/rules-img/rules_img/pkg/internal/unpack"
)

// Manifest is what a user writes: where packages come from, for which
// architectures, and which packages (their dependencies follow).
type Manifest struct {
	Sources       []Source `json:"sources"`
	Architectures []string `json:"architectures"`
	Packages      []string `json:"packages"`
}

// Source is an archive as apt's sources name one: a URL with a suite and
// components, or a flat repository when the suite ends in "/" (as in
// `deb URL ./`).
type Source struct {
	URL        string   `json:"url"`
	Suite      string   `json:"suite"`
	Components []string `json:"components"`
}

// Lockfile pins every package a manifest needs by URL and sha256.
type Lockfile struct {
	Version  int         `json:"version"`
	Packages []LockedDeb `json:"packages"`
}

// LockedDeb is one .deb for one architecture.
type LockedDeb struct {
	Name         string   `json:"name"`
	Version      string   `json:"version"`
	Architecture string   `json:"architecture"`
	URL          string   `json:"url"`
	SHA256       string   `json:"sha256"`
	Size         int64    `json:"size,omitempty"`
	Depends      []string `json:"depends,omitempty"`
}

// indexURLs are the Packages files of a source for arch, each in the
// compressions archives publish, the best first.
func (s Source) indexURLs(arch string) [][]string {
	base := strings.TrimSuffix(s.URL, "/")
	if strings.HasSuffix(s.Suite, "/") {
		dir := base + "/" + strings.Trim(s.Suite, "/")
		dir = strings.TrimSuffix(strings.TrimSuffix(dir, "/."), "/")
		return [][]string{withSuffixes(dir + "/Packages")}
	}
	var out [][]string
	for _, c := range s.Components {
		out = append(out, withSuffixes(fmt.Sprintf("%s/dists/%s/%s/binary-%s/Packages", base, s.Suite, c, arch)))
	}
	return out
}

func withSuffixes(u string) []string { return []string{u + ".xz", u + ".gz", u} }

// fileBase is what a package's Filename is relative to.
func (s Source) fileBase() string {
	base := strings.TrimSuffix(s.URL, "/")
	if strings.HasSuffix(s.Suite, "/") {
		if d := strings.Trim(s.Suite, "/"); d != "." && d != "" {
			base += "/" + d
		}
	}
	return base + "/"
}

// escapePath makes a Filename (a path in the archive) part of a URL: a
// repository apt-get download filled has names like zlib1g_1%3a1.2.13.deb.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// Fetcher gets a URL's body; ok is false for a 404.
type Fetcher func(url string) (body []byte, ok bool, err error)

// HTTPFetcher fetches with net/http.
func HTTPFetcher() Fetcher {
	client := &http.Client{Timeout: 5 * time.Minute}
	return func(url string) ([]byte, bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			return nil, false, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, false, nil
		}
		if resp.StatusCode != http.StatusOK {
			return nil, false, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		b, err := io.ReadAll(resp.Body)
		return b, true, err
	}
}

func readIndex(url string, body []byte) ([]Paragraph, error) {
	kind, _ := unpack.ByName(url)
	r, done, err := unpack.Reader(kind, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer done()
	return ParseParagraphs(r)
}

// Lock resolves the manifest against its sources' indexes for each
// architecture and pins the result.
func Lock(m Manifest, fetch Fetcher) (*Lockfile, error) {
	switch {
	case len(m.Sources) == 0:
		return nil, errors.New("the manifest names no sources; add one like {\"url\": \"https://deb.example/debian\", \"suite\": \"bookworm\", \"components\": [\"main\"]}")
	case len(m.Architectures) == 0:
		return nil, errors.New("the manifest names no architectures; add them, like [\"amd64\", \"arm64\"]")
	case len(m.Packages) == 0:
		return nil, errors.New("the manifest names no packages")
	}
	lock := &Lockfile{Version: 1}
	archs := append([]string(nil), m.Architectures...)
	sort.Strings(archs)
	for _, arch := range archs {
		var paras []Paragraph
		for _, s := range m.Sources {
			if s.URL == "" || s.Suite == "" || (!strings.HasSuffix(s.Suite, "/") && len(s.Components) == 0) {
				return nil, fmt.Errorf("source %+v needs a url and a suite, and components unless the suite ends in \"/\" (a flat repository)", s)
			}
			for _, urls := range s.indexURLs(arch) {
				found := false
				for _, u := range urls {
					body, ok, err := fetch(u)
					if err != nil {
						return nil, err
					}
					if !ok {
						continue
					}
					ps, err := readIndex(u, body)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", u, err)
					}
					for _, p := range ps {
						p["X-Base"] = s.fileBase()
					}
					paras = append(paras, ps...)
					found = true
					break
				}
				if !found {
					return nil, fmt.Errorf("no Packages index at %s (nor .xz or .gz); check the source's url, suite and components", urls[2])
				}
			}
		}
		ix, err := NewIndex(arch, paras)
		if err != nil {
			return nil, err
		}
		resolved, err := ix.Resolve(m.Packages)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arch, err)
		}
		for _, res := range resolved {
			r := res.Paragraph
			if r["Filename"] == "" || len(r["SHA256"]) != 64 {
				return nil, fmt.Errorf("%s: package %s %s has no Filename or SHA256 in its index", arch, r["Package"], r["Version"])
			}
			var size int64
			fmt.Sscan(r["Size"], &size)
			lock.Packages = append(lock.Packages, LockedDeb{
				Name: r["Package"], Version: r["Version"], Architecture: arch,
				URL:    r["X-Base"] + escapePath(strings.TrimPrefix(r["Filename"], "./")),
				SHA256: r["SHA256"], Size: size, Depends: res.Depends,
			})
		}
	}
	return lock, nil
}
