// Package parallel runs one function over many items with bounded
// concurrency, for the blob transfers of pull and push.
package parallel

import (
	"context"
	"sync"
)

// Each calls f for every item, at most jobs at a time. The first error
// cancels the context the other calls see and is returned once all
// running calls have ended; items not started by then are skipped.
func Each[T any](ctx context.Context, items []T, jobs int, f func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan T)
	)
	for range min(max(jobs, 1), len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for item := range next {
				if err := f(ctx, item); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for _, item := range items {
		select {
		case next <- item:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
