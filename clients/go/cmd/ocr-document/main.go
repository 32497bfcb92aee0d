// ocr-document uploads a PDF (or image) to vlm-grpc, submits a document prediction, prints its status
// changes and page progress to stderr while it runs, and the answer as JSON to stdout.
//
//	VLM_GRPC_TARGET=127.0.0.1:50051 ocr-document [-domain document.markdown] report.pdf
//
// VLM_GRPC_TOKEN, when set, is sent as the bearer token.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"mime"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	vlmv1 "github.com/vlm-grpc/vlm-grpc/clients/go/gen/vlm/v1"
	"github.com/vlm-grpc/vlm-grpc/clients/go/vlmclient"
)

func main() {
	domain := flag.String("domain", "document.ocr", "the prediction's domain")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: ocr-document [flags] FILE   (target: $VLM_GRPC_TARGET, token: $VLM_GRPC_TOKEN)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := run(ctx, target(), os.Getenv("VLM_GRPC_TOKEN"), *domain, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "error:", describe(err))
		os.Exit(1)
	}
}

func target() string {
	if t := os.Getenv("VLM_GRPC_TARGET"); t != "" {
		return t
	}
	return "127.0.0.1:50051" // `make serve`
}

func run(ctx context.Context, target, token, domain, path string) error {
	client, err := vlmclient.Dial(target, token)
	if err != nil {
		return err
	}
	defer client.Close()
	client.OnResume = func(after int64, err error) {
		fmt.Fprintf(os.Stderr, "watch dropped (%s); resuming after #%d\n", describe(err), after)
	}

	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	file, err := client.UploadFile(ctx, filepath.Base(path), contentType(path), f)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "uploaded %s as %s (%d bytes, %s)\n", file.Filename, file.Id, file.Bytes, file.DetectedType)

	prediction, err := client.SubmitDocument(ctx, domain, vlmclient.FileDocument(file.Id), nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "submitted %s (%s)\n", prediction.Id, domain)

	// After sequence 0: the whole history from the first event, then live events until the terminal one.
	final, err := client.Watch(ctx, prediction.Id, 0, printEvent())
	if err != nil {
		return err
	}
	answer, err := protojson.Marshal(final.Response)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer // protojson's own indentation varies on purpose; encoding/json's is stable
	if err := json.Indent(&pretty, answer, "", "  "); err != nil {
		return err
	}
	fmt.Println(pretty.String())
	return nil
}

// printEvent prints each status change and each finished page (not heartbeats or repeated snapshots).
func printEvent() func(*vlmv1.PredictionEvent) error {
	var lastStatus vlmv1.PredictionStatus
	var lastDone int32 = -1
	return func(event *vlmv1.PredictionEvent) error {
		p := event.Prediction
		if p == nil { // heartbeat or output delta
			return nil
		}
		progress := fmt.Sprintf("%d/%d pages", p.GetProgress().GetDone(), p.GetProgress().GetTotal())
		switch {
		case p.Status != lastStatus:
			fmt.Fprintf(os.Stderr, "#%d %s %s\n", event.Sequence, statusName(p.Status), progress)
		case p.GetProgress().GetDone() != lastDone:
			fmt.Fprintf(os.Stderr, "#%d page %s\n", event.Sequence, progress)
		}
		lastStatus, lastDone = p.Status, p.GetProgress().GetDone()
		return nil
	}
}

func statusName(s vlmv1.PredictionStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "PREDICTION_STATUS_"))
}

func contentType(path string) string {
	if t := mime.TypeByExtension(filepath.Ext(path)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// describe adds the service's stable reason (e.g. INVALID_PDF) to an error's message.
func describe(err error) string {
	if reason := vlmclient.Reason(err); reason != "" && !strings.Contains(err.Error(), reason) {
		return fmt.Sprintf("%v (reason %s)", err, reason)
	}
	return err.Error()
}
