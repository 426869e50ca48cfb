package serve

// sched holds the requests that clients sent and the pool has not taken
// yet, one queue per client, and picks the next in turn: round robin over
// the clients with requests queued, one request each, so that a client
// with a hundred thousand lines to send takes one turn in each round like
// one with a single line typed at a prompt. It is a plain data structure:
// the server's lock guards it.
type sched[C comparable, T any] struct {
	queues map[C]*queue[T]
	turns  []C // the clients with requests queued, in turn order
	next   int // turns[next] is the next to be served
	n      int // requests queued, in all
}

type queue[T any] struct {
	items []T
	head  int
}

func newSched[C comparable, T any]() *sched[C, T] {
	return &sched[C, T]{queues: map[C]*queue[T]{}}
}

// push queues t for client c, after c's earlier requests. A client that
// had none queued takes its turn at the end of the round under way.
func (s *sched[C, T]) push(c C, t T) {
	q := s.queues[c]
	if q == nil {
		q = &queue[T]{}
		s.queues[c] = q
		s.turns = append(s.turns, c)
	}
	q.items = append(q.items, t)
	s.n++
}

// pop takes the next request: the oldest of the client whose turn it is.
func (s *sched[C, T]) pop() (c C, t T, ok bool) {
	if len(s.turns) == 0 {
		return c, t, false
	}
	if s.next >= len(s.turns) {
		s.next = 0
	}
	c = s.turns[s.next]
	q := s.queues[c]
	t = q.items[q.head]
	var zero T
	q.items[q.head] = zero
	q.head++
	s.n--
	if q.head == len(q.items) {
		delete(s.queues, c)
		s.turns = append(s.turns[:s.next], s.turns[s.next+1:]...)
		return c, t, true // the next client moved into this place
	}
	if q.head >= 64 && 2*q.head >= len(q.items) {
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
	s.next++
	return c, t, true
}

// drop forgets the requests c has queued (it went away), and returns them.
func (s *sched[C, T]) drop(c C) []T {
	q := s.queues[c]
	if q == nil {
		return nil
	}
	delete(s.queues, c)
	for i, d := range s.turns {
		if d == c {
			s.turns = append(s.turns[:i], s.turns[i+1:]...)
			if i < s.next {
				s.next--
			}
			break
		}
	}
	items := q.items[q.head:]
	s.n -= len(items)
	return items
}

// len is how many requests are queued, in all.
func (s *sched[C, T]) len() int { return s.n }
