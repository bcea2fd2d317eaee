module github.com/rules-img/rules_img

go 1.24.0

require (
	github.com/bazelbuild/remote-apis v0.0.0-20260908115904-76ddd98e1f92
	github.com/containerd/containerd/api v1.9.0
	github.com/containerd/stargz-snapshotter/estargz v0.18.1
	github.com/google/go-containerregistry v0.20.7
	github.com/klauspost/compress v1.19.2
	github.com/klauspost/pgzip v1.2.6
	github.com/opencontainers/go-digest v1.0.0
	github.com/spdx/tools-golang v0.5.7
	github.com/ulikunitz/xz v0.5.12
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/term v0.37.0
	google.golang.org/genproto v0.0.0-20260203192932-546029d2fa20
	google.golang.org/genproto/googleapis/bytestream v0.0.0-20260203192932-546029d2fa20
	google.golang.org/grpc v1.76.0
	google.golang.org/protobuf v1.36.11
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require (
	cloud.google.com/go/longrunning v0.8.0 // indirect
	github.com/anchore/go-struct-converter v0.1.0 // indirect
	github.com/containerd/log v0.1.0 // indirect
	github.com/containerd/ttrpc v1.2.5 // indirect
	github.com/docker/cli v29.0.3+incompatible // indirect
	github.com/docker/distribution v2.8.3+incompatible // indirect
	github.com/docker/docker-credential-helpers v0.9.3 // indirect
	github.com/google/flatbuffers v25.12.19+incompatible // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/mitchellh/go-homedir v1.1.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	github.com/sirupsen/logrus v1.9.3 // indirect
	github.com/vbatts/tar-split v0.12.2 // indirect
	golang.org/x/crypto v0.44.0 // indirect
	golang.org/x/net v0.47.0 // indirect
	golang.org/x/sync v0.18.0 // indirect
	golang.org/x/sys v0.38.0 // indirect
	golang.org/x/text v0.31.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20260203192932-546029d2fa20 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260203192932-546029d2fa20 // indirect
)
