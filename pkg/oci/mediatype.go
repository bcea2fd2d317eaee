package oci

import "strings"

// MediaType names what a descriptor points at. Its predicates treat the OCI
// and Docker v2 spellings of a kind alike, as registries and runtimes do.
type MediaType string

// Media types from the OCI image spec.
const (
	MediaTypeLayer     MediaType = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeLayerGzip MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeLayerZstd MediaType = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaTypeConfig    MediaType = "application/vnd.oci.image.config.v1+json"
	MediaTypeManifest  MediaType = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeIndex     MediaType = "application/vnd.oci.image.index.v1+json"
	// MediaTypeEmpty is the config of an artifact that needs none: the blob
	// "{}" (image spec 1.1).
	MediaTypeEmpty MediaType = "application/vnd.oci.empty.v1+json"

	MediaTypeLayerNondistributable     MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar"
	MediaTypeLayerNondistributableGz   MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	MediaTypeLayerNondistributableZstd MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
)

// Media types that appear in images pulled from Docker registries. rules_img
// never writes them, but base images and layouts may contain them.
const (
	MediaTypeDockerManifest         MediaType = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList     MediaType = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig           MediaType = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer            MediaType = "application/vnd.docker.image.rootfs.diff.tar"
	MediaTypeDockerLayerGzip        MediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayerZstd        MediaType = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	MediaTypeDockerForeignLayerGzip MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// IsIndex: an OCI index or a Docker manifest list.
func (m MediaType) IsIndex() bool { return m == MediaTypeIndex || m == MediaTypeDockerManifestList }

// IsManifest: a single-platform OCI or Docker v2 manifest.
func (m MediaType) IsManifest() bool { return m == MediaTypeManifest || m == MediaTypeDockerManifest }

// IsLayer: any OCI or Docker layer, compressed or not, distributable or not.
func (m MediaType) IsLayer() bool {
	s := string(m)
	return strings.HasPrefix(s, "application/vnd.oci.image.layer.") ||
		strings.HasPrefix(s, "application/vnd.docker.image.rootfs.")
}

// IsNonDistributable: a layer registries are not expected to hold (OCI
// non-distributable, Docker foreign).
func (m MediaType) IsNonDistributable() bool {
	s := string(m)
	return strings.HasPrefix(s, "application/vnd.oci.image.layer.nondistributable.") ||
		strings.HasPrefix(s, "application/vnd.docker.image.rootfs.foreign.")
}

// Valid says whether m has the type/subtype form of RFC 6838, with no
// parameters or white space.
func (m MediaType) Valid() bool {
	typ, sub, ok := strings.Cut(string(m), "/")
	return ok && restrictedName(typ) && restrictedName(sub)
}

func restrictedName(s string) bool {
	if s == "" || len(s) > 127 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && strings.ContainsRune("!#$&-^_.+", r):
		default:
			return false
		}
	}
	return true
}

// LayerCompression names the compression a layer media type says its blob
// has: "gzip", "zstd" or "" (uncompressed); ok is false for a type that is
// not an OCI or Docker layer.
func (m MediaType) LayerCompression() (compression string, ok bool) {
	if !m.IsLayer() {
		return "", false
	}
	s := string(m)
	switch {
	case strings.HasSuffix(s, "+gzip"), strings.HasSuffix(s, ".gzip"):
		return "gzip", true
	case strings.HasSuffix(s, "+zstd"), strings.HasSuffix(s, ".zstd"):
		return "zstd", true
	}
	return "", true
}
