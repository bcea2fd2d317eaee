package sbom

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/rules-img/rules_img/pkg/oci"
)

// Subject is the image a document describes.
type Subject struct {
	Name    string // the image's target, e.g. //app:image
	Digest  string // of its manifest or index
	Created string // RFC 3339: the document's time (the image's, for reproducibility)
	Bases   []Base // pulled base images, named and never read
	Tool    string // "img" and its version
}

// Base is a pulled base image.
type Base struct {
	Registry, Repository, Digest string
}

func (b Base) purl() string {
	name := b.Repository[strings.LastIndex(b.Repository, "/")+1:]
	return "pkg:oci/" + purlEscape(name) + "@" + purlEscape(b.Digest) + "?repository_url=" + purlEscape(b.Registry+"/"+b.Repository)
}

func (s Subject) purl() string {
	name := s.Name[strings.LastIndexAny(s.Name, ":/")+1:]
	return "pkg:oci/" + purlEscape(strings.ToLower(name)) + "@" + purlEscape(s.Digest)
}

// uuidFor derives a UUID (version 5 layout) from the subject, so the same
// image gets the same document.
func uuidFor(kind string, s Subject) string {
	sum := sha1.Sum([]byte(kind + "\x00" + s.Name + "\x00" + s.Digest))
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// SPDX writes the inventory as an SPDX 2.3 JSON document.
func SPDX(s Subject, inv *Inventory) ([]byte, error) {
	type checksum struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"checksumValue"`
	}
	type ref struct {
		Category string `json:"referenceCategory"`
		Type     string `json:"referenceType"`
		Locator  string `json:"referenceLocator"`
	}
	type pkg struct {
		ID               string `json:"SPDXID"`
		Name             string `json:"name"`
		Version          string `json:"versionInfo,omitempty"`
		DownloadLocation string `json:"downloadLocation"`
		FilesAnalyzed    bool   `json:"filesAnalyzed"`
		LicenseConcluded string `json:"licenseConcluded"`
		LicenseDeclared  string `json:"licenseDeclared"`
		CopyrightText    string `json:"copyrightText"`
		Purpose          string `json:"primaryPackagePurpose,omitempty"`
		SourceInfo       string `json:"sourceInfo,omitempty"`
		ExternalRefs     []ref  `json:"externalRefs,omitempty"`
	}
	type file struct {
		ID        string     `json:"SPDXID"`
		Name      string     `json:"fileName"`
		Checksums []checksum `json:"checksums"`
	}
	type rel struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	}
	na := "NOASSERTION"
	image := pkg{ID: "SPDXRef-Image", Name: s.Name, Version: s.Digest, DownloadLocation: na, LicenseConcluded: na, LicenseDeclared: na, CopyrightText: na, Purpose: "CONTAINER",
		ExternalRefs: []ref{{"PACKAGE-MANAGER", "purl", s.purl()}}}
	pkgs := []pkg{image}
	rels := []rel{{"SPDXRef-DOCUMENT", "DESCRIBES", image.ID}}
	for i, b := range s.Bases {
		id := fmt.Sprintf("SPDXRef-Base-%d", i+1)
		pkgs = append(pkgs, pkg{ID: id, Name: b.Registry + "/" + b.Repository, Version: b.Digest, DownloadLocation: na, LicenseConcluded: na, LicenseDeclared: na, CopyrightText: na,
			Purpose: "CONTAINER", SourceInfo: "base image, not scanned: its layers were not pulled", ExternalRefs: []ref{{"PACKAGE-MANAGER", "purl", b.purl()}}})
		rels = append(rels, rel{image.ID, "DESCENDANT_OF", id})
	}
	for i, p := range inv.Packages {
		id := fmt.Sprintf("SPDXRef-Package-%d", i+1)
		pkgs = append(pkgs, pkg{ID: id, Name: p.Name, Version: p.Version, DownloadLocation: na, LicenseConcluded: na, LicenseDeclared: na, CopyrightText: na,
			Purpose: "LIBRARY", SourceInfo: "found in /" + p.Location, ExternalRefs: []ref{{"PACKAGE-MANAGER", "purl", p.PURL}}})
		rels = append(rels, rel{image.ID, "CONTAINS", id})
	}
	files := []file{}
	for i, f := range inv.Files {
		id := fmt.Sprintf("SPDXRef-File-%d", i+1)
		files = append(files, file{ID: id, Name: "./" + f.Path, Checksums: []checksum{{"SHA1", f.SHA1}, {"SHA256", f.SHA256}}})
		rels = append(rels, rel{image.ID, "CONTAINS", id})
	}
	return oci.Marshal(map[string]any{
		"spdxVersion":       "SPDX-2.3",
		"dataLicense":       "CC0-1.0",
		"SPDXID":            "SPDXRef-DOCUMENT",
		"name":              s.Name,
		"documentNamespace": "urn:uuid:" + uuidFor("spdx", s),
		"creationInfo": map[string]any{
			"created":  s.Created,
			"creators": []string{"Tool: " + s.Tool},
		},
		"packages":      pkgs,
		"files":         files,
		"relationships": rels,
	})
}

// CycloneDX writes the inventory as a CycloneDX 1.6 JSON document.
func CycloneDX(s Subject, inv *Inventory) ([]byte, error) {
	type hash struct {
		Alg     string `json:"alg"`
		Content string `json:"content"`
	}
	type property struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	type component struct {
		Type       string     `json:"type"`
		Ref        string     `json:"bom-ref"`
		Name       string     `json:"name"`
		Version    string     `json:"version,omitempty"`
		PURL       string     `json:"purl,omitempty"`
		Hashes     []hash     `json:"hashes,omitempty"`
		Properties []property `json:"properties,omitempty"`
	}
	type dependency struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	}
	image := component{Type: "container", Ref: "image", Name: s.Name, Version: s.Digest, PURL: s.purl()}
	comps := []component{}
	var refs []string
	for i, b := range s.Bases {
		c := component{Type: "container", Ref: fmt.Sprintf("base-%d", i+1), Name: b.Registry + "/" + b.Repository, Version: b.Digest, PURL: b.purl(),
			Properties: []property{{"rules_img:scanned", "false"}}}
		comps = append(comps, c)
		refs = append(refs, c.Ref)
	}
	for i, p := range inv.Packages {
		c := component{Type: "library", Ref: fmt.Sprintf("pkg-%d", i+1), Name: p.Name, Version: p.Version, PURL: p.PURL,
			Properties: []property{{"rules_img:location", "/" + p.Location}}}
		comps = append(comps, c)
		refs = append(refs, c.Ref)
	}
	for i, f := range inv.Files {
		c := component{Type: "file", Ref: fmt.Sprintf("file-%d", i+1), Name: "/" + f.Path, Hashes: []hash{{"SHA-1", f.SHA1}, {"SHA-256", f.SHA256}}}
		comps = append(comps, c)
		refs = append(refs, c.Ref)
	}
	deps := []dependency{{Ref: image.Ref, DependsOn: refs}}
	if refs == nil {
		deps[0].DependsOn = []string{}
	}
	tool, version, _ := strings.Cut(s.Tool, " ")
	return oci.Marshal(map[string]any{
		"bomFormat":    "CycloneDX",
		"specVersion":  "1.6",
		"serialNumber": "urn:uuid:" + uuidFor("cyclonedx", s),
		"version":      1,
		"metadata": map[string]any{
			"timestamp": s.Created,
			"tools":     map[string]any{"components": []map[string]string{{"type": "application", "name": tool, "version": version}}},
			"component": image,
		},
		"components":   comps,
		"dependencies": deps,
	})
}
