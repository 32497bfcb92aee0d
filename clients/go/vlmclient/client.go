// Package vlmclient is a small Go client for vlm-grpc: every service's stub on one connection, a bearer
// token on every call, and helpers to upload files, submit predictions, watch them (resuming a dropped
// stream from the last sequence number seen) and read the rich error details.
package vlmclient

import (
	"context"
	"time"

	"google.golang.org/grpc"

	vlmv1 "github.com/vlm-grpc/vlm-grpc/clients/go/gen/vlm/v1"
)

// MaxMessageBytes bounds the messages sent and received (as the Python client does): answers for long
// documents exceed gRPC's 4 MiB default.
const MaxMessageBytes = 64 << 20

// Client holds the stubs of every service on one connection; call the stubs directly for anything the
// helpers don't cover.
type Client struct {
	conn        *grpc.ClientConn
	Documents   vlmv1.DocumentServiceClient
	Images      vlmv1.ImageServiceClient
	Predictions vlmv1.PredictionServiceClient
	Files       vlmv1.FileServiceClient
	Hub         vlmv1.HubServiceClient
	Models      vlmv1.ModelServiceClient
	// How long Watch keeps resuming a dropped stream without an event (0: DefaultResumeTimeout).
	ResumeTimeout time.Duration
	// Called (when set) each time Watch re-opens a dropped stream, with the error that ended it.
	OnResume func(afterSequence int64, err error)
}

// Dial connects to target ("host:port") without TLS, as `make serve` listens. A non-empty token is sent
// as `authorization: Bearer <token>` on every call. Extra options (e.g. TLS credentials) come last and win.
func Dial(target, token string, opts ...grpc.DialOption) (*Client, error) {
	options := []grpc.DialOption{
		grpc.WithInsecure(), // grpc 1.33 (Debian 12) has no credentials/insecure package yet
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
	}
	if token != "" {
		options = append(options, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.Dial(target, append(options, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:        conn,
		Documents:   vlmv1.NewDocumentServiceClient(conn),
		Images:      vlmv1.NewImageServiceClient(conn),
		Predictions: vlmv1.NewPredictionServiceClient(conn),
		Files:       vlmv1.NewFileServiceClient(conn),
		Hub:         vlmv1.NewHubServiceClient(conn),
		Models:      vlmv1.NewModelServiceClient(conn),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// bearer sends the token with every call. It allows plaintext connections: the service's default
// deployment is loopback or behind a TLS-terminating proxy.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
