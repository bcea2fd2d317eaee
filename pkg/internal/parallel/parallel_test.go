package parallel

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestEachBoundsConcurrencyAndStopsOnError(t *testing.T) {
	var running, peak, done atomic.Int32
	items := make([]int, 50)
	err := Each(context.Background(), items, 3, func(ctx context.Context, _ int) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		done.Add(1)
		return nil
	})
	if err != nil || done.Load() != 50 || peak.Load() > 3 {
		t.Fatalf("err %v, done %d, peak %d", err, done.Load(), peak.Load())
	}

	boom := errors.New("boom")
	var calls atomic.Int32
	err = Each(context.Background(), items, 2, func(ctx context.Context, i int) error {
		if calls.Add(1) == 1 {
			return boom
		}
		<-ctx.Done() // the others wait for the cancellation
		return ctx.Err()
	})
	if !errors.Is(err, boom) || calls.Load() == int32(len(items)) {
		t.Fatalf("err %v after %d calls; want boom and the rest skipped", err, calls.Load())
	}
}
