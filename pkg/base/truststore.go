package base

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/rules-img/rules_img/pkg/deb"
	"github.com/rules-img/rules_img/pkg/layer"
	"github.com/rules-img/rules_img/pkg/rpm"
	"software.sslmate.com/src/go-pkcs12"
)

// TrustStoreOptions are trust_store's attributes.
type TrustStoreOptions struct {
	Certs       []string `json:"certs"`
	Debs        []string `json:"debs"`
	RPMs        []string `json:"rpms"`
	Bundle      bool     `json:"bundle"`
	BundlePath  string   `json:"bundle_path"`
	Exploded    bool     `json:"exploded"`
	ExplodedDir string   `json:"exploded_dir"`
	Mode        string   `json:"mode"`
	// JavaKeystore is a file to write the PKCS#12 truststore to (an output
	// of the action); empty writes none.
	JavaKeystore         string `json:"java_keystore"`
	JavaKeystorePassword string `json:"java_keystore_password"`
	JavaKeystorePath     string `json:"java_keystore_path"`
}

// ReadCertificates reads every certificate a file holds: PEM (any number of
// CERTIFICATE, TRUSTED CERTIFICATE or PKCS7 blocks; other blocks such as
// keys are skipped), DER, or a DER PKCS#7 bundle. A file without one is an
// error: an image quietly missing a CA fails much later.
func ReadCertificates(data []byte) ([]*x509.Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		var out []*x509.Certificate
		for rest := data; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			switch b.Type {
			case "CERTIFICATE", "TRUSTED CERTIFICATE":
				// OpenSSL's trusted form appends its trust settings.
				var raw asn1.RawValue
				if _, err := asn1.Unmarshal(b.Bytes, &raw); err != nil {
					return nil, fmt.Errorf("a %s block is not DER: %w", b.Type, err)
				}
				c, err := x509.ParseCertificate(raw.FullBytes)
				if err != nil {
					return nil, fmt.Errorf("a %s block: %w", b.Type, err)
				}
				out = append(out, c)
			case "PKCS7":
				cs, err := pkcs7Certificates(b.Bytes)
				if err != nil {
					return nil, err
				}
				out = append(out, cs...)
			}
		}
		if len(out) == 0 {
			return nil, errors.New("holds no certificate")
		}
		return out, nil
	}
	if c, err := x509.ParseCertificate(data); err == nil {
		return []*x509.Certificate{c}, nil
	}
	if cs, err := pkcs7Certificates(data); err == nil && len(cs) > 0 {
		return cs, nil
	}
	return nil, errors.New("is not a certificate in PEM, DER or PKCS#7 form")
}

// pkcs7Certificates reads the certificates of a (degenerate) PKCS#7
// SignedData, the form certificate bundles travel in.
func pkcs7Certificates(der []byte) ([]*x509.Certificate, error) {
	var ci struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, fmt.Errorf("not PKCS#7: %w", err)
	}
	if !ci.Type.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}) {
		return nil, fmt.Errorf("PKCS#7 content %v is not SignedData", ci.Type)
	}
	var sd struct {
		Version     int
		Digests     asn1.RawValue
		Content     asn1.RawValue
		Certs       asn1.RawValue `asn1:"optional,tag:0"`
		CRLs        asn1.RawValue `asn1:"optional,tag:1"`
		SignerInfos asn1.RawValue
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("PKCS#7 SignedData: %w", err)
	}
	var out []*x509.Certificate
	for rest := sd.Certs.Bytes; len(rest) > 0; {
		var raw asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &raw); err != nil {
			return nil, fmt.Errorf("PKCS#7 certificates: %w", err)
		}
		c, err := x509.ParseCertificate(raw.FullBytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS#7 certificate: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// caDirs are where packages put CA certificates (Debian's, and the
// anchors of Fedora's ca-trust); nothing else in a package is read.
var caDirs = []string{"usr/share/ca-certificates/", "usr/local/share/ca-certificates/",
	"etc/pki/ca-trust/source/anchors/", "usr/share/pki/ca-trust-source/anchors/"}

func isCAFile(name string) bool {
	if !strings.HasSuffix(name, ".crt") && !strings.HasSuffix(name, ".pem") && !strings.HasSuffix(name, ".cer") {
		return false
	}
	for _, d := range caDirs {
		if strings.HasPrefix(name, d) {
			return true
		}
	}
	return false
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName names a certificate's file in the exploded directory after its
// subject, as Debian's ca-certificates does.
func fileName(c *x509.Certificate) string {
	n := c.Subject.CommonName
	if n == "" && len(c.Subject.OrganizationalUnit) > 0 {
		n = c.Subject.OrganizationalUnit[0]
	}
	if n == "" && len(c.Subject.Organization) > 0 {
		n = c.Subject.Organization[0]
	}
	n = strings.Trim(unsafeName.ReplaceAllString(n, "_"), "_.")
	if n == "" {
		n = fmt.Sprintf("ca-%x", c.SerialNumber)
	}
	return n
}

// TrustStore writes a PEM bundle and OpenSSL's hashed directory (one PEM per
// certificate and a <subject hash>.N link to it) from certificate files,
// each certificate once.
func TrustStore(raw []byte, _ Filler) ([]layer.Entry, error) {
	var o TrustStoreOptions
	if err := decode(raw, &o); err != nil {
		return nil, err
	}
	mode, err := fileAttrs(o.Mode, 0o644, map[string]string{"bundle_path": o.BundlePath, "exploded_dir": o.ExplodedDir})
	if err != nil {
		return nil, err
	}
	files, err := readFiles(o.Certs)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var certs []*x509.Certificate
	add := func(cs []*x509.Certificate) {
		for _, c := range cs {
			if !seen[string(c.Raw)] {
				seen[string(c.Raw)] = true
				certs = append(certs, c)
			}
		}
	}
	for i, data := range files {
		cs, err := ReadCertificates([]byte(data))
		if err != nil {
			return nil, fmt.Errorf("certs: %s %v; give PEM, DER or PKCS#7 certificate files", o.Certs[i], err)
		}
		add(cs)
	}
	for _, pkgs := range []struct {
		attr  string
		paths []string
		files func(string, func(string) bool) (map[string][]byte, error)
	}{{"debs", o.Debs, deb.Files}, {"rpms", o.RPMs, rpm.Files}} {
		for _, p := range pkgs.paths {
			found, err := pkgs.files(p, isCAFile)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", pkgs.attr, err)
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("%s: %s holds no certificate under %s; give the package that ships them, such as ca-certificates", pkgs.attr, p, strings.Join(caDirs, ", "))
			}
			for _, name := range sortedKeys(found) {
				cs, err := ReadCertificates(found[name])
				if err != nil {
					return nil, fmt.Errorf("%s: %s: /%s %v", pkgs.attr, p, name, err)
				}
				add(cs)
			}
		}
	}
	// One order on every machine: by file name, then by the bytes.
	names := make(map[*x509.Certificate]string, len(certs))
	for _, c := range certs {
		names[c] = fileName(c)
	}
	sort.SliceStable(certs, func(i, j int) bool {
		a, b := names[certs[i]], names[certs[j]]
		if a != b {
			return a < b
		}
		return bytes.Compare(certs[i].Raw, certs[j].Raw) < 0
	})
	var out []layer.Entry
	var bundle strings.Builder
	seenNames := map[string]int{}
	hashes := map[string]int{}
	var entries []pkcs12.TrustStoreEntry
	for _, c := range certs {
		block := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		bundle.WriteString(block)
		name := names[c]
		seenNames[name]++
		if seenNames[name] > 1 {
			name = fmt.Sprintf("%s_%d", name, seenNames[name])
		}
		entries = append(entries, pkcs12.TrustStoreEntry{Cert: c, FriendlyName: strings.ToLower(name)})
		if !o.Exploded {
			continue
		}
		out = append(out, file(path.Join(o.ExplodedDir, name+".pem"), block, mode))
		h, err := SubjectHash(c.RawSubject)
		if err != nil {
			return nil, fmt.Errorf("certs: %s: %w", c.Subject, err)
		}
		hex := fmt.Sprintf("%08x", h)
		out = append(out, symlink(path.Join(o.ExplodedDir, fmt.Sprintf("%s.%d", hex, hashes[hex])), name+".pem"))
		hashes[hex]++
	}
	if o.Bundle {
		out = append(out, file(o.BundlePath, bundle.String(), mode))
	}
	if o.JavaKeystore != "" {
		if err := checkPath("java_keystore_path", o.JavaKeystorePath); err != nil {
			return nil, err
		}
		// Modern2023: AES-256 and a SHA-256 MAC, which Java reads since 8u301.
		// Its salts come from the certificates, so the same certificates give
		// the same bytes.
		ks, err := pkcs12.Modern2023.WithRand(seededReader(bundle.String()+"\x00"+o.JavaKeystorePassword)).EncodeTrustStoreEntries(entries, o.JavaKeystorePassword)
		if err != nil {
			return nil, fmt.Errorf("java_keystore: %w", err)
		}
		if err := os.WriteFile(o.JavaKeystore, ks, 0o644); err != nil {
			return nil, err
		}
		out = append(out, layer.Entry{Path: o.JavaKeystorePath, Type: layer.TypeFile, Source: o.JavaKeystore, Metadata: metadata(mode, 0, 0)})
	}
	return out, nil
}

// seededReader is an endless stream of bytes determined by seed: SHA-256 of
// the seed and a counter, block after block.
func seededReader(seed string) io.Reader {
	return &seeded{seed: sha256.Sum256([]byte(seed))}
}

type seeded struct {
	seed [32]byte
	n    uint64
	buf  []byte
}

func (s *seeded) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) {
		var block [40]byte
		copy(block[:], s.seed[:])
		binary.BigEndian.PutUint64(block[32:], s.n)
		s.n++
		sum := sha256.Sum256(block[:])
		s.buf = append(s.buf, sum[:]...)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}
