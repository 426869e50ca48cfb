package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/fatih/color"

	"github.com/pipecli/pipecli/internal/session"
)

// Bucket is a range of latencies, From included, To not, and how many
// answers took that long.
type Bucket struct {
	From, To time.Duration
	Count    int64
}

// maxRows is the most buckets a histogram is drawn with.
const maxRows = 24

// series are the edges of log-spaced buckets within a decade, finest
// first: the Renard series R10 (each 1.26 times the one before), 1-2-5,
// and decades. Their round numbers make labels that read well.
var series = [][]float64{
	{1, 1.25, 1.6, 2, 2.5, 3.2, 4, 5, 6.3, 8},
	{1, 2, 5},
	{1},
}

// Buckets spreads the counts of bars (an HDR histogram's distribution,
// in nanoseconds) over log-spaced buckets, from the edge at or below the
// lowest value to the edge above the highest: the finest series that
// needs at most maxRows of them. Empty buckets in between are kept, as a
// histogram shows gaps.
func Buckets(bars []hdrhistogram.Bar) []Bucket {
	lo, hi := int64(-1), int64(0)
	for _, b := range bars {
		if b.Count == 0 {
			continue
		}
		if lo < 0 {
			lo = b.From
		}
		hi = b.From // bars go where they start, below
	}
	if lo < 0 {
		return nil
	}
	lo = max(lo, 1)
	var edges []float64
	for _, s := range series {
		edges = logEdges(s, float64(lo), float64(hi))
		if len(edges)-1 <= maxRows {
			break
		}
	}
	bs := make([]Bucket, len(edges)-1)
	for i := range bs {
		bs[i] = Bucket{From: time.Duration(edges[i]), To: time.Duration(edges[i+1])}
	}
	i := 0
	for _, b := range bars {
		if b.Count == 0 {
			continue
		}
		// An HDR bar is narrow (0.1%): it goes where it starts.
		v := float64(max(b.From, 1))
		for i < len(bs)-1 && v >= edges[i+1] {
			i++
		}
		bs[i].Count += b.Count
	}
	return bs
}

// logEdges are the edges of series s from the last at or below lo to the
// first above hi, in whole nanoseconds (none twice).
func logEdges(s []float64, lo, hi float64) []float64 {
	var edges []float64
	// 10^floor(log10 lo) is an edge, and not above lo.
	for decade := math.Pow(10, math.Floor(math.Log10(lo))); ; decade *= 10 {
		for _, m := range s {
			e := math.Round(m * decade)
			switch {
			case e <= lo:
				edges = append(edges[:0], e)
			case e > edges[len(edges)-1]:
				edges = append(edges, e)
				if e > hi {
					return edges
				}
			}
		}
	}
}

// blocks are the eighths of a bar's last cell.
var blocks = []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

// DrawHistogram writes bs as rows of a bar chart, width columns wide:
// each bucket's range, a bar scaled so that the fullest bucket fills the
// room left, its count and the share of answers up to its end. The bars
// are coloured only if color is set (a terminal that may have colours).
func DrawHistogram(w io.Writer, bs []Bucket, width int, useColor bool) {
	if len(bs) == 0 {
		return
	}
	var total, most int64
	labels := make([]string, len(bs))
	labelW, countW := 0, 0
	for i, b := range bs {
		total += b.Count
		most = max(most, b.Count)
		labels[i] = session.Brief(b.From) + " – " + session.Brief(b.To)
		labelW = max(labelW, utf8.RuneCountInString(labels[i])) // fmt pads by runes too
		countW = max(countW, len(thousands(b.Count)))
	}
	// "  label  bar  count  100.0%"
	barW := max(width-(2+labelW+2+2+countW+2+6), 10)
	bar := color.New(color.FgCyan)
	if useColor {
		bar.EnableColor()
	} else {
		bar.DisableColor()
	}
	var cum int64
	for i, b := range bs {
		cum += b.Count
		cells := drawBar(b.Count, most, barW)
		pad := strings.Repeat(" ", barW-utf8.RuneCountInString(cells))
		if cells != "" {
			cells = bar.Sprint(cells)
		}
		fmt.Fprintf(w, "  %*s  %s%s  %*s  %5.1f%%\n", labelW, labels[i], cells, pad, countW, thousands(b.Count), 100*float64(cum)/float64(total))
	}
}

// drawBar is n's bar when most fills cells: whole cells and an eighth of
// one; at least an eighth when n is not 0.
func drawBar(n, most int64, cells int) string {
	if n == 0 || most == 0 {
		return ""
	}
	eighths := max(int(math.Round(float64(n)/float64(most)*float64(cells*8))), 1)
	return strings.Repeat("█", eighths/8) + blocks[eighths%8]
}
