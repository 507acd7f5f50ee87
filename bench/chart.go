package bench

// chart.go draws the data-plane figures as one PNG.

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var pathOrder = []string{pathDirect, pathCaddy, pathCeiling, pathPortico}

var pathColors = map[string]color.Color{
	pathDirect:  color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff},
	pathCaddy:   color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	pathCeiling: color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	pathPortico: color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// WriteChart draws small-request throughput, p50 and p99 latency by
// concurrency and path, and bulk throughput by path, into a PNG at file.
func (r *Results) WriteChart(file string) error {
	conc := make([]string, len(r.Config.Concurrency))
	for i, c := range r.Config.Concurrency {
		conc[i] = fmt.Sprintf("%d clients", c)
	}
	// Log scales: the direct path is 10 to 30 times faster than the overlay,
	// which would flatten the overlay's figures on a linear axis.
	lines := func(title, ylabel string, value func(HTTPFigure) float64) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text, p.Y.Label.Text = title, ylabel+" (log scale)"
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		p.Legend.Top, p.Legend.Left = true, true
		for _, name := range pathOrder {
			var xys plotter.XYs
			for j, c := range r.Config.Concurrency {
				if f := r.httpFigure(name, c); f != nil && value(*f) > 0 {
					xys = append(xys, plotter.XY{X: float64(j), Y: value(*f)})
				}
			}
			if len(xys) == 0 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = pathColors[name], vg.Points(2)
			pts.Color, pts.Shape, pts.Radius = pathColors[name], draw.CircleGlyph{}, vg.Points(4)
			p.Add(l, pts)
			p.Legend.Add(pathLabels[name], l, pts)
		}
		p.NominalX(conc...)
		p.Y.Max *= 4 // room for the legend above the highest line
		return p, nil
	}
	rps, err := lines(fmt.Sprintf("Small requests (%d B): throughput", r.Config.SmallSize), "requests/s", func(f HTTPFigure) float64 { return f.RPS })
	if err != nil {
		return err
	}
	p50, err := lines("Small requests: p50 latency", "ms", func(f HTTPFigure) float64 { return f.P50 })
	if err != nil {
		return err
	}
	p99, err := lines("Small requests: p99 latency", "ms", func(f HTTPFigure) float64 { return f.P99 })
	if err != nil {
		return err
	}

	bulk := plot.New()
	bulk.Title.Text = fmt.Sprintf("Bulk transfer (%d MB): throughput, and the proxy's RSS growth", r.Config.BulkSize/1e6)
	bulk.Y.Label.Text = "MB/s (log scale)"
	bulk.Y.Scale, bulk.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	var names []string
	var labels plotter.XYLabels
	for i, name := range pathOrder {
		f := r.bulkFigure(name)
		if f == nil || f.MBps <= 0 {
			continue
		}
		xy := plotter.XY{X: float64(len(names)), Y: f.MBps}
		pts, err := plotter.NewScatter(plotter.XYs{xy})
		if err != nil {
			return err
		}
		pts.Color, pts.Shape, pts.Radius = pathColors[name], draw.CircleGlyph{}, vg.Points(8)
		bulk.Add(pts)
		label := fmt.Sprintf("%.0f MB/s", f.MBps)
		if name != pathDirect {
			label += fmt.Sprintf("\nRSS %+.0f MiB", f.RSSGrowth)
		}
		labels.XYs, labels.Labels = append(labels.XYs, xy), append(labels.Labels, label)
		names = append(names, fmt.Sprintf("(%c) %s", 'a'+i, name))
	}
	if len(names) > 0 {
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = draw.XCenter, draw.YBottom
			l.Offset = vg.Point{Y: vg.Points(12)}
		}
		bulk.Add(l)
	}
	bulk.NominalX(names...)
	bulk.X.Min, bulk.X.Max = -0.5, float64(len(names))-0.5
	bulk.Y.Min, bulk.Y.Max = bulk.Y.Min/2, bulk.Y.Max*4

	const width, height = 16 * vg.Inch, 10 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(96))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 2, PadTop: vg.Points(10), PadBottom: vg.Points(10), PadLeft: vg.Points(10), PadRight: vg.Points(10), PadX: vg.Points(30), PadY: vg.Points(30)}
	plots := [][]*plot.Plot{{rps, p50}, {p99, bulk}}
	canvases := plot.Align(plots, tiles, dc)
	for j := range plots {
		for i := range plots[j] {
			plots[j][i].Draw(canvases[j][i])
		}
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
