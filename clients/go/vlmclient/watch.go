package vlmclient

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	vlmv1 "github.com/vlm-grpc/vlm-grpc/clients/go/gen/vlm/v1"
)

// Snapshot, as Watch's afterSequence, starts with the prediction's current state instead of a replay.
const Snapshot int64 = -1

// DefaultResumeTimeout is how long Watch keeps re-opening a dropped stream while no event arrives (long
// enough for a server restart with its embedded Triton); Client.ResumeTimeout overrides it.
const DefaultResumeTimeout = 2 * time.Minute

// Terminal reports whether p is COMPLETED or FAILED.
func Terminal(p *vlmv1.Prediction) bool {
	s := p.GetStatus()
	return s == vlmv1.PredictionStatus_PREDICTION_STATUS_COMPLETED || s == vlmv1.PredictionStatus_PREDICTION_STATUS_FAILED
}

// Watch streams the events of prediction id to handle (nil: ignore them) until the terminal event, and
// returns the terminal prediction; for a FAILED one the error is its *Error. afterSequence is the last
// sequence number already seen (Snapshot for none): events after it are replayed first. When the stream
// drops (UNAVAILABLE, e.g. SHUTTING_DOWN, or closed early) it is re-opened after the last sequence
// number seen, so handle sees every status and progress event once. An error from handle ends the watch.
func (c *Client) Watch(ctx context.Context, id string, afterSequence int64,
	handle func(*vlmv1.PredictionEvent) error) (*vlmv1.Prediction, error) {
	w := watch{predictions: c.Predictions, id: id, last: afterSequence, handle: handle,
		timeout: c.ResumeTimeout, onResume: c.OnResume}
	if w.timeout <= 0 {
		w.timeout = DefaultResumeTimeout
	}
	return w.run(ctx)
}

// Wait follows prediction id until it is terminal and returns it (for a FAILED one, with its *Error).
func (c *Client) Wait(ctx context.Context, id string) (*vlmv1.Prediction, error) {
	return c.Watch(ctx, id, Snapshot, nil)
}

type watch struct {
	predictions vlmv1.PredictionServiceClient
	id          string
	last        int64 // the last sequence number seen
	lastEvent   time.Time
	timeout     time.Duration // give up resuming after this long without an event
	onResume    func(afterSequence int64, err error)
	handle      func(*vlmv1.PredictionEvent) error
}

// handlerError marks an error of the caller's handler: returned as is, never resumed.
type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }

func (w *watch) run(ctx context.Context) (*vlmv1.Prediction, error) {
	w.lastEvent = time.Now()
	backoff := 100 * time.Millisecond
	for {
		seen := w.last
		final, err := w.once(ctx)
		if final != nil {
			if failure := PredictionError(final); failure != nil {
				return final, failure
			}
			return final, nil
		}
		var handler handlerError
		if errors.As(err, &handler) {
			return nil, handler.err
		}
		if !resumable(err) || time.Since(w.lastEvent) > w.timeout {
			return nil, fromError(err)
		}
		if w.last != seen {
			backoff = 100 * time.Millisecond // it got somewhere: resume quickly
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		if w.onResume != nil {
			w.onResume(w.last, fromError(err))
		}
		if backoff *= 2; backoff > 3*time.Second {
			backoff = 3 * time.Second
		}
	}
}

// once reads one stream: the terminal prediction, or the error that ended the stream before it.
func (w *watch) once(ctx context.Context) (*vlmv1.Prediction, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	request := &vlmv1.WatchPredictionRequest{Id: w.id}
	if w.last != Snapshot {
		request.AfterSequence = proto.Int64(w.last)
	}
	stream, err := w.predictions.WatchPrediction(ctx, request)
	if err != nil {
		return nil, err
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return nil, err // io.EOF: closed before the terminal event
		}
		event := msg.GetEvent()
		w.last, w.lastEvent = event.GetSequence(), time.Now()
		if w.handle != nil {
			if err := w.handle(event); err != nil {
				return nil, handlerError{err}
			}
		}
		if Terminal(event.GetPrediction()) {
			return event.GetPrediction(), nil
		}
	}
}

// resumable: the stream broke (server shutting down or unreachable) rather than the request failing.
func resumable(err error) bool {
	return err == io.EOF || status.Code(err) == codes.Unavailable
}
