package verify

import (
	"context"

	"github.com/rolecall/rolecall/internal/probe"
)

// JobFromMessage is jobFromMessage for the package's tests, which decode
// message bodies without a queue around them.
func (w *Worker) JobFromMessage(ctx context.Context, body []byte) (probe.Job, bool, error) {
	return w.jobFromMessage(ctx, body)
}
