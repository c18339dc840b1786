package main

import (
	"fmt"
	"image/color"
	"os"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	blue   = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange = color.RGBA{R: 255, G: 127, B: 14, A: 255}
	green  = color.RGBA{R: 44, G: 160, B: 44, A: 255}
	red    = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	grey   = color.RGBA{R: 127, G: 127, B: 127, A: 255}
)

// series is one named run of buckets drawn on a chart.
type series struct {
	label   string
	buckets []second
}

// writeChart draws latency (p50 and p99 per bucket) above throughput (answers per second by kind) over time,
// for each series, into a PNG.
func writeChart(path, title string, width time.Duration, ss []series, limit time.Duration) error {
	lat := plot.New()
	lat.Title.Text = title + ": latency per " + width.String()
	lat.X.Label.Text = "time since start (s)"
	lat.Y.Label.Text = "latency (ms)"
	lat.Add(plotter.NewGrid())
	lat.Legend.Top = true
	lat.Y.Min = 0

	thr := plot.New()
	thr.Title.Text = "throughput (answers per second, by when the request was sent)"
	thr.X.Label.Text = "time since start (s)"
	thr.Y.Label.Text = "answers/s"
	thr.Add(plotter.NewGrid())
	thr.Legend.Top = true
	thr.Y.Min = 0

	dashes := [][]vg.Length{nil, {vg.Points(4), vg.Points(3)}, {vg.Points(1), vg.Points(2)}}
	xmax := 0.0
	for i, s := range ss {
		p50, p99 := make(plotter.XYs, len(s.buckets)), make(plotter.XYs, len(s.buckets))
		ok, conflict, errs := make(plotter.XYs, len(s.buckets)), make(plotter.XYs, len(s.buckets)), make(plotter.XYs, len(s.buckets))
		per := 1 / width.Seconds()
		for j, b := range s.buckets {
			x := b.t * width.Seconds()
			xmax = max(xmax, x+width.Seconds())
			p50[j] = plotter.XY{X: x, Y: ms(b.p50)}
			p99[j] = plotter.XY{X: x, Y: ms(b.p99)}
			ok[j] = plotter.XY{X: x, Y: float64(b.ok) * per}
			conflict[j] = plotter.XY{X: x, Y: float64(b.conflict) * per}
			errs[j] = plotter.XY{X: x, Y: float64(b.errors) * per}
		}
		prefix := ""
		if s.label != "" {
			prefix = s.label + " "
		}
		dash := dashes[i%len(dashes)]
		for _, l := range []struct {
			p   *plot.Plot
			xys plotter.XYs
			c   color.Color
			n   string
		}{{lat, p50, blue, "p50"}, {lat, p99, red, "p99"}, {thr, ok, green, "201/200"}, {thr, conflict, orange, "409"}, {thr, errs, red, "errors"}} {
			if l.n == "409" && allZero(l.xys) || l.n == "errors" && allZero(l.xys) {
				continue
			}
			line, points, err := plotter.NewLinePoints(l.xys)
			if err != nil {
				return err
			}
			line.Color, line.Dashes, line.Width = l.c, dash, vg.Points(1.5)
			points.Color, points.Radius, points.Shape = l.c, vg.Points(1.5), draw.CircleGlyph{}
			l.p.Add(line, points)
			l.p.Legend.Add(prefix+l.n, line)
		}
	}
	if limit > 0 {
		ln, err := plotter.NewLine(plotter.XYs{{X: 0, Y: ms(limit)}, {X: xmax, Y: ms(limit)}})
		if err != nil {
			return err
		}
		ln.Color, ln.Dashes = grey, []vg.Length{vg.Points(6), vg.Points(4)}
		lat.Add(ln)
		lat.Legend.Add(fmt.Sprintf("target p99 %s", limit), ln)
	}
	lat.X.Min, thr.X.Min, lat.X.Max, thr.X.Max = 0, 0, xmax, xmax

	img := vgimg.New(vg.Points(900), vg.Points(700))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6),
		PadRight: vg.Points(12), PadY: vg.Points(14)}
	canvases := plot.Align([][]*plot.Plot{{lat}, {thr}}, tiles, dc)
	lat.Draw(canvases[0][0])
	thr.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func allZero(xys plotter.XYs) bool {
	for _, p := range xys {
		if p.Y != 0 {
			return false
		}
	}
	return true
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
