package vlmclient

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vlmv1 "github.com/vlm-grpc/vlm-grpc/clients/go/gen/vlm/v1"
)

// Error is a failed call or a failed prediction, with the google.rpc.Status details the service attaches:
// the ErrorInfo reason (a stable UPPER_SNAKE name such as "FILE_NOT_FOUND") and the BadRequest violations.
// status.FromError and status.Code still work on it.
type Error struct {
	Code       codes.Code
	Message    string
	Reason     string            // ErrorInfo.reason; empty when the status carries none
	Metadata   map[string]string // ErrorInfo.metadata, e.g. "last_sequence", "max_bytes"
	Violations []FieldViolation  // BadRequest.field_violations
	status     *status.Status
}

// FieldViolation names a request field to blame, e.g. "domain" or "config.page_indices".
type FieldViolation struct {
	Field       string
	Description string
}

func (e *Error) Error() string {
	return fmt.Sprintf("vlm-grpc: %s: %s", e.Code, e.Message)
}

// GRPCStatus lets status.FromError and status.Code see through an *Error.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// Reason is the ErrorInfo reason of err (a call's error or a prediction's *Error), or "" when it has none.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if converted, ok := fromError(err).(*Error); ok {
		return converted.Reason
	}
	return ""
}

// PredictionError is the error of a FAILED prediction (nil otherwise); a cancelled one has reason CANCELLED.
func PredictionError(p *vlmv1.Prediction) *Error {
	if p.GetStatus() != vlmv1.PredictionStatus_PREDICTION_STATUS_FAILED {
		return nil
	}
	if p.GetError() == nil { // not expected from the service, but a FAILED prediction is never a success
		return newError(status.New(codes.Unknown, "the prediction failed without an error status"))
	}
	return newError(status.FromProto(p.GetError()))
}

// fromError turns a gRPC status error into an *Error; other errors (nil included) pass through unchanged.
func fromError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	return newError(s)
}

func newError(s *status.Status) *Error {
	e := &Error{Code: s.Code(), Message: s.Message(), status: s}
	for _, detail := range s.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			e.Reason, e.Metadata = d.GetReason(), d.GetMetadata()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Violations = append(e.Violations, FieldViolation{v.GetField(), v.GetDescription()})
			}
		}
	}
	return e
}
