package topobench

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// topologyStyle is how a topology is drawn and named in the plot.
var topologyStyle = map[Topology]struct {
	color color.Color
	name  string
}{
	Everywhere: {color.RGBA{R: 0xc0, G: 0x39, B: 0x2b, A: 0xff}, "every node a voter"},
	Isolated:   {color.RGBA{R: 0x1f, G: 0x5f, B: 0xa8, A: 0xff}, "3 voters + N−3 gateways"},
}

// medianRange is a plotter.XYer and YErrorer: medians with their range.
type medianRange struct {
	xs []float64
	ys []Spread
}

func (m medianRange) Len() int                    { return len(m.xs) }
func (m medianRange) XY(i int) (float64, float64) { return m.xs[i], m.ys[i].Median }
func (m medianRange) YError(i int) (float64, float64) {
	return m.ys[i].Median - m.ys[i].Min, m.ys[i].Max - m.ys[i].Median
}

// SVG draws the report: write latency (p50 and p99) and the recovery from
// a killed leader against N, one line per topology and figure, each point
// the median over runs with a bar from the least to the greatest run.
func (b *Report) SVG() ([]byte, error) {
	c := vgsvg.New(plotWidth, plotHeight)
	if err := b.draw(draw.New(c)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	// Liberation Sans is metric-compatible with Arial and Helvetica: let a
	// viewer without it use those rather than its default serif.
	return []byte(strings.ReplaceAll(buf.String(), "font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")), nil
}

// The plot's size.
const plotWidth, plotHeight = 9 * vg.Inch, 3.6 * vg.Inch

// draw draws the two panels of the plot side by side on dc.
func (b *Report) draw(dc draw.Canvas) error {
	defer func(f font.Font) { plot.DefaultFont = f }(plot.DefaultFont)
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	sums := b.Summaries()
	var ticks []plot.Tick
	for _, n := range b.Sizes {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	newPlot := func(title, ylabel string) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.Title.TextStyle.Font.Size = vg.Points(12)
		p.X.Label.Text = "nodes N"
		p.Y.Label.Text = ylabel
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		return p
	}
	latency := newPlot("sequential write latency via the last node", "ms")
	recovery := newPlot("leader SIGKILL → next write via the last node", "ms")
	for k, topo := range Topologies {
		st := topologyStyle[topo]
		// The topologies side by side at each N, so their bars do not hide
		// each other.
		shift := 0.12 * (float64(k) - float64(len(Topologies)-1)/2)
		var p50, p99, rec medianRange
		for _, s := range sums {
			if s.Topology != topo {
				continue
			}
			x := float64(s.N) + shift
			p50.xs, p50.ys = append(p50.xs, x), append(p50.ys, s.P50)
			p99.xs, p99.ys = append(p99.xs, x), append(p99.ys, s.P99)
			rec.xs, rec.ys = append(rec.xs, x), append(rec.ys, s.RecoveryMs)
		}
		if p50.Len() == 0 {
			continue
		}
		for _, series := range []struct {
			p      *plot.Plot
			data   medianRange
			label  string
			dashed bool
		}{
			{latency, p50, st.name + ", p50", false},
			{latency, p99, st.name + ", p99", true},
			{recovery, rec, st.name, false},
		} {
			line, points, err := plotter.NewLinePoints(series.data)
			if err != nil {
				return err
			}
			line.Color, line.Width = st.color, vg.Points(1.5)
			if series.dashed {
				line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			points.Color, points.Shape, points.Radius = st.color, draw.CircleGlyph{}, vg.Points(2.5)
			bars, err := plotter.NewYErrorBars(series.data)
			if err != nil {
				return err
			}
			bars.Color, bars.Width = st.color, vg.Points(1)
			series.p.Add(line, points, bars)
			series.p.Legend.Add(series.label, line, points)
		}
	}
	// From zero, with room above the data for the legend in the top left.
	for p, room := range map[*plot.Plot]float64{latency: 1.5, recovery: 1.3} {
		p.Y.Min, p.Y.Max = 0, p.Y.Max*room
		p.Y.Tick.Marker = plot.TickerFunc(roundTicks)
		p.X.Min, p.X.Max = float64(b.Sizes[0])-1, float64(b.Sizes[len(b.Sizes)-1])+1
	}
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(18), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6)}
	canvases := plot.Align([][]*plot.Plot{{latency, recovery}}, tiles, dc)
	latency.Draw(canvases[0][0])
	recovery.Draw(canvases[0][1])
	return nil
}

// roundTicks labels about five round values (1, 2 or 5 times a power of ten
// apart) between min and max, and marks the steps between them.
func roundTicks(min, max float64) []plot.Tick {
	if max <= min {
		return nil
	}
	raw := (max - min) / 5
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := pow
	for _, m := range []float64{2, 5, 10} {
		if step >= raw {
			break
		}
		step = m * pow
	}
	var ticks []plot.Tick
	for v := math.Ceil(min/step) * step; v <= max; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		if minor := v + step/2; minor <= max {
			ticks = append(ticks, plot.Tick{Value: minor})
		}
	}
	return ticks
}
