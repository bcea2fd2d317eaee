module github.com/rules-img/rules_img

go 1.24.0

require (
	github.com/google/go-containerregistry v0.20.7 // indirect
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/klauspost/pgzip v1.2.6 // indirect
)
