module github.com/vlm-grpc/vlm-grpc/clients/go

go 1.19

// The oldest versions this client is built and tested with (Debian 12's golang-google-grpc-dev and
// golang-google-protobuf-dev). clients/go/go.sh builds offline against those packages in GOPATH mode;
// with a module proxy, run `go mod tidy` once and build as usual.
require (
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
