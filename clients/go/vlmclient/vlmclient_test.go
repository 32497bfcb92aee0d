package vlmclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vlmv1 "github.com/vlm-grpc/vlm-grpc/clients/go/gen/vlm/v1"
)

func TestUploadSendsMetadataThenChunks(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), ChunkSize/4) // 2.5 chunks
	metadata, err := uploadMetadata("a.pdf", "application/pdf", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var sent []*vlmv1.UploadFileRequest
	var body []byte
	reader := bytes.NewReader(data)
	err = sendUpload(metadata, reader, func(m *vlmv1.UploadFileRequest) error {
		sent = append(sent, m)
		body = append(body, m.GetChunk()...) // copied: the buffer is reused
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	first := sent[0].GetMetadata()
	if first == nil || first.SizeBytes != int64(len(data)) || first.Sha256 != hex.EncodeToString(sum[:]) || first.Filename != "a.pdf" {
		t.Fatalf("first message is not the metadata: %v", sent[0])
	}
	if len(sent) != 4 || !bytes.Equal(body, data) {
		t.Fatalf("want metadata and 3 chunks holding the data, got %d messages, %d bytes", len(sent), len(body))
	}
}

func TestErrorExposesReasonAndViolations(t *testing.T) {
	s, _ := status.New(codes.InvalidArgument, "UNKNOWN_DOMAIN: no such domain").WithDetails(
		&errdetails.ErrorInfo{Reason: "UNKNOWN_DOMAIN", Domain: "vlm-grpc.dev", Metadata: map[string]string{"served": "x"}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "domain", Description: "unknown"}}})
	err := fromError(s.Err())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("not an *Error: %T", err)
	}
	if e.Reason != "UNKNOWN_DOMAIN" || e.Metadata["served"] != "x" || len(e.Violations) != 1 || e.Violations[0].Field != "domain" {
		t.Fatalf("details lost: %+v", e)
	}
	if status.Code(err) != codes.InvalidArgument || Reason(s.Err()) != "UNKNOWN_DOMAIN" {
		t.Fatalf("code %v, reason %q", status.Code(err), Reason(s.Err()))
	}
}

// fakePredictions answers WatchPrediction from scripted streams, one per call.
type fakePredictions struct {
	vlmv1.PredictionServiceClient
	streams  [][]any // events or a final error
	requests []*vlmv1.WatchPredictionRequest
}

func (f *fakePredictions) WatchPrediction(_ context.Context, in *vlmv1.WatchPredictionRequest, _ ...grpc.CallOption) (vlmv1.PredictionService_WatchPredictionClient, error) {
	f.requests = append(f.requests, in)
	script := f.streams[0]
	f.streams = f.streams[1:]
	return &fakeStream{script: script}, nil
}

type fakeStream struct {
	grpc.ClientStream
	script []any
}

func (s *fakeStream) Recv() (*vlmv1.WatchPredictionResponse, error) {
	item := s.script[0]
	s.script = s.script[1:]
	if err, ok := item.(error); ok {
		return nil, err
	}
	return &vlmv1.WatchPredictionResponse{Event: item.(*vlmv1.PredictionEvent)}, nil
}

func event(sequence int64, s vlmv1.PredictionStatus) *vlmv1.PredictionEvent {
	return &vlmv1.PredictionEvent{Sequence: sequence, Prediction: &vlmv1.Prediction{Id: "p", Status: s}}
}

func TestWatchResumesAfterTheLastSequenceSeen(t *testing.T) {
	shutdown, _ := status.New(codes.Unavailable, "SHUTTING_DOWN").WithDetails(&errdetails.ErrorInfo{Reason: "SHUTTING_DOWN"})
	fake := &fakePredictions{streams: [][]any{
		{event(1, vlmv1.PredictionStatus_PREDICTION_STATUS_PENDING), event(2, vlmv1.PredictionStatus_PREDICTION_STATUS_RUNNING), shutdown.Err()},
		{event(3, vlmv1.PredictionStatus_PREDICTION_STATUS_COMPLETED)},
	}}
	var resumes []string
	client := &Client{Predictions: fake, OnResume: func(after int64, err error) {
		resumes = append(resumes, fmt.Sprintf("%d %s", after, Reason(err)))
	}}
	var seen []int64
	final, err := client.Watch(context.Background(), "p", Snapshot, func(e *vlmv1.PredictionEvent) error {
		seen = append(seen, e.Sequence)
		return nil
	})
	if err != nil || final.Status != vlmv1.PredictionStatus_PREDICTION_STATUS_COMPLETED {
		t.Fatalf("final %v, err %v", final, err)
	}
	if fake.requests[0].AfterSequence != nil || fake.requests[1].GetAfterSequence() != 2 {
		t.Fatalf("resume requests: %v", fake.requests)
	}
	if len(seen) != 3 || seen[2] != 3 || len(resumes) != 1 || resumes[0] != "2 SHUTTING_DOWN" {
		t.Fatalf("events seen: %v, resumes: %v", seen, resumes)
	}
}

func TestWatchStopsOnOtherErrorsAndFailedPredictions(t *testing.T) {
	missing, _ := status.New(codes.NotFound, "gone").WithDetails(&errdetails.ErrorInfo{Reason: "PREDICTION_NOT_FOUND"})
	client := &Client{Predictions: &fakePredictions{streams: [][]any{{missing.Err()}}}}
	if _, err := client.Wait(context.Background(), "p"); Reason(err) != "PREDICTION_NOT_FOUND" {
		t.Fatalf("want PREDICTION_NOT_FOUND, got %v", err)
	}

	cancelled, _ := status.New(codes.Canceled, "cancelled").WithDetails(&errdetails.ErrorInfo{Reason: "CANCELLED"})
	failed := event(4, vlmv1.PredictionStatus_PREDICTION_STATUS_FAILED)
	failed.Prediction.Error = cancelled.Proto()
	client = &Client{Predictions: &fakePredictions{streams: [][]any{{failed}}}}
	final, err := client.Wait(context.Background(), "p")
	if final == nil || Reason(err) != "CANCELLED" || status.Code(err) != codes.Canceled {
		t.Fatalf("want the FAILED prediction with reason CANCELLED, got %v, %v", final, err)
	}
}
