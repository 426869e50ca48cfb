package bench

import (
	"io"
	"sync"
	"time"
)

// liveEvery is how often the progress line is redrawn.
const liveEvery = 250 * time.Millisecond

// liveLine is a progress line at the bottom of a terminal, redrawn in
// place; what else is written through it (the session's messages, the
// child's stderr) is written above it: the line is cleared first, and
// drawn again at the next tick.
type liveLine struct {
	mu    sync.Mutex // guards w and shown: the ticker and the session's goroutines write
	w     io.Writer
	shown bool
}

// clearLine goes back to the start of the line and erases it.
const clearLine = "\r\x1b[K"

func (l *liveLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hide()
	return l.w.Write(p)
}

// draw shows text as the progress line ("" hides it).
func (l *liveLine) draw(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hide()
	if text != "" {
		io.WriteString(l.w, text)
		l.shown = true
	}
}

// clear takes the line off the screen.
func (l *liveLine) clear() { l.draw("") }

func (l *liveLine) hide() {
	if l.shown {
		io.WriteString(l.w, clearLine)
		l.shown = false
	}
}

// run redraws the line with text() at each tick until stop is closed.
func (l *liveLine) run(stop <-chan struct{}, text func() string) {
	t := time.NewTicker(liveEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.draw(text())
		case <-stop:
			return
		}
	}
}
