package bes

import (
	"container/list"
	"io"
	"sync"

	"github.com/rules-img/rules_img/pkg/cas"
)

// Stores keeps one CAS client per REAPI instance name, the Max most
// recently used: the names come from the event streams, so without a bound
// a client naming new instances would grow the backend without end.
type Stores struct {
	Open func(instance string) (cas.Store, error)
	Max  int // 0: 16

	mu    sync.Mutex
	order *list.List // of *storeEntry, most recent first
	byKey map[string]*list.Element
}

type storeEntry struct {
	instance string
	store    cas.Store
}

// Get returns the client for instance, opening it when needed.
func (c *Stores) Get(instance string) (cas.Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.order, c.byKey = list.New(), map[string]*list.Element{}
	}
	if e, ok := c.byKey[instance]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*storeEntry).store, nil
	}
	s, err := c.Open(instance)
	if err != nil {
		return nil, err
	}
	c.byKey[instance] = c.order.PushFront(&storeEntry{instance, s})
	limit := c.Max
	if limit <= 0 {
		limit = 16
	}
	for c.order.Len() > limit {
		old := c.order.Remove(c.order.Back()).(*storeEntry)
		delete(c.byKey, old.instance)
		// A push still reading through it fails and is reported; with
		// fewer than Max instances in use at once, none is.
		if cl, ok := old.store.(io.Closer); ok {
			cl.Close()
		}
	}
	return s, nil
}

// Len is the number of clients kept.
func (c *Stores) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey)
}
