package base

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/rules-img/rules_img/pkg/deb"
	"github.com/rules-img/rules_img/pkg/layer"
)

// TrustStoreOptions are trust_store's attributes (the rule refuses rpms
// and java_keystore before an action runs).
type TrustStoreOptions struct {
	Certs       []string `json:"certs"`
	Debs        []string `json:"debs"`
	Bundle      bool     `json:"bundle"`
	BundlePath  string   `json:"bundle_path"`
	Exploded    bool     `json:"exploded"`
	ExplodedDir string   `json:"exploded_dir"`
	Mode        string   `json:"mode"`
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

// caDirs are where packages put CA certificates; nothing else in a
// package is read.
var caDirs = []string{"usr/share/ca-certificates/", "usr/local/share/ca-certificates/"}

func isCAFile(name string) bool {
	if !strings.HasSuffix(name, ".crt") && !strings.HasSuffix(name, ".pem") {
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
	mode, err := parseMode("mode", o.Mode, 0o644)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct{ attr, v string }{{"bundle_path", o.BundlePath}, {"exploded_dir", o.ExplodedDir}} {
		if err := checkPath(p.attr, p.v); err != nil {
			return nil, err
		}
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
	for _, d := range o.Debs {
		found, err := deb.Files(d, isCAFile)
		if err != nil {
			return nil, fmt.Errorf("debs: %w", err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("debs: %s holds no certificate under %s; give the package that ships them, such as ca-certificates", d, strings.Join(caDirs, " or "))
		}
		for _, name := range sortedKeys(found) {
			cs, err := ReadCertificates(found[name])
			if err != nil {
				return nil, fmt.Errorf("debs: %s: /%s %v", d, name, err)
			}
			add(cs)
		}
	}
	// One order on every machine: by file name, then by the bytes.
	sort.SliceStable(certs, func(i, j int) bool {
		a, b := fileName(certs[i]), fileName(certs[j])
		if a != b {
			return a < b
		}
		return bytes.Compare(certs[i].Raw, certs[j].Raw) < 0
	})
	var out []layer.Entry
	var bundle strings.Builder
	names := map[string]int{}
	hashes := map[string]int{}
	for _, c := range certs {
		block := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		bundle.WriteString(block)
		if !o.Exploded {
			continue
		}
		name := fileName(c)
		names[name]++
		if names[name] > 1 {
			name = fmt.Sprintf("%s_%d", name, names[name])
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
	return out, nil
}
