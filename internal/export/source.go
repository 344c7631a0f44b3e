package export

import (
	"context"
	"sync"

	"github.com/minipot/minipot/internal/store"
)

// StoreSource is a Source over the store file at Path, opened on first
// use: the exporter may start before the agent has created the store.
type StoreSource struct {
	Path string

	mu sync.Mutex
	r  *store.Reader
}

// After implements Source.
func (s *StoreSource) After(ctx context.Context, after int64, limit int) (store.OutboxPage, error) {
	s.mu.Lock()
	if s.r == nil {
		r, err := store.OpenReader(s.Path)
		if err != nil {
			s.mu.Unlock()
			return store.OutboxPage{}, err
		}
		s.r = r
	}
	r := s.r
	s.mu.Unlock()
	return r.After(ctx, after, limit)
}

// Close closes the store if it was opened.
func (s *StoreSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r == nil {
		return nil
	}
	err := s.r.Close()
	s.r = nil
	return err
}
