using System.Globalization;
using PcieVirt.Hypervisor.Paths;
using PcieVirt.Hypervisor.Timing;
using ScottPlot;
using SkiaSharp;

namespace PcieVirt.Cli;

/// <summary>The image format of a <c>bench paths --plot</c> file, from its extension.</summary>
public enum PlotFormat
{
    /// <summary>Raster image.</summary>
    Png,
    /// <summary>Vector image (text stays text, so path names can be searched).</summary>
    Svg,
}

/// <summary>
/// Draws <c>bench paths</c> results as one figure of two panels: on the left the latency distribution of
/// each path (empirical CDF on a log latency axis, so a 10 µs and a 100 µs path both show their shape and
/// tail), on the right the mean latency of each path split into its components as stacked bars. A path has
/// the same colour in both panels (its CDF line, its total above its bar).
/// </summary>
public static class PathPlot
{
    /// <summary>Figure size in pixels (PNG) or SVG user units.</summary>
    public const int Width = 1400, Height = 620;

    // One colour per path, in PathKind order (Tableau 10: distinguishable, also in grey-scale print order).
    static readonly Color[] PathColors =
    [
        Color.FromHex("#4E79A7"), // baremetal: blue
        Color.FromHex("#59A14F"), // vf: green
        Color.FromHex("#F28E2B"), // paravirtual: orange
        Color.FromHex("#E15759"), // emulated: red
    ];

    /// <summary>The colour of <paramref name="kind"/> in both panels.</summary>
    public static Color ColorOf(PathKind kind) => PathColors[(int)kind % PathColors.Length];

    /// <summary>The format named by <paramref name="file"/>'s extension (.png or .svg, any case), or null.</summary>
    public static PlotFormat? FormatOf(string file) => Path.GetExtension(file).ToLowerInvariant() switch
    {
        ".png" => PlotFormat.Png,
        ".svg" => PlotFormat.Svg,
        _ => null,
    };

    /// <summary>Writes the figure of <paramref name="results"/> to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, PlotFormat format, IReadOnlyList<PathResult> results, PathOptions options)
    {
        var figure = Build(results, options);
        if (format == PlotFormat.Png)
        {
            using var image = figure.Render(Width, Height);
            var bytes = image.GetImageBytes(ImageFormat.Png);
            stream.Write(bytes);
            return;
        }
        // The SVG canvas must be disposed before the stream is complete (it writes the closing tags then).
        using (var canvas = SKSvgCanvas.Create(new SKRect(0, 0, Width, Height), stream))
        {
            canvas.Clear(SKColors.White);
            figure.Render(canvas, new PixelRect(0, Width, Height, 0));
        }
    }

    static Multiplot Build(IReadOnlyList<PathResult> results, PathOptions options)
    {
        var figure = new Multiplot { Layout = new ScottPlot.MultiplotLayouts.Columns() };
        // A new Multiplot holds one empty plot: replace it rather than add beside it.
        figure.Reset(Styled(Distribution(results, options)));
        figure.AddPlot(Styled(Breakdown(results)));
        return figure;
    }

    // ScottPlot's default face resolves to a serif on many Linux systems; a sans face reads better at
    // small sizes. Skia falls back to the default when the family is missing, so this never fails.
    static readonly string? SansFamily = new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial" }
        .FirstOrDefault(f =>
        {
            using var t = SKFontManager.Default.MatchFamily(f);
            return t?.FamilyName == f;
        });

    static Plot Styled(Plot plot)
    {
        if (SansFamily != null) plot.Font.Set(SansFamily);
        return plot;
    }

    static Plot Distribution(IReadOnlyList<PathResult> results, PathOptions options)
    {
        var plot = new Plot();
        var w = options.Workload;
        plot.Title(string.Create(CultureInfo.InvariantCulture,
            $"Latency CDF: {w.Pattern.ToString().ToLowerInvariant()} {w.BlockSize} B, QD{w.IoDepth}, {w.Ops} I/Os per path"), 14);
        plot.YLabel("fraction of I/Os completed within x");
        var cdfs = results.Select(r => (r, Cdf(r.Workload.LatencySamplesNs))).Where(c => c.Item2.X.Length > 0).ToList();
        double lo = cdfs.Count == 0 ? 0 : cdfs.Min(c => c.Item2.X[0]), hi = cdfs.Count == 0 ? 0 : cdfs.Max(c => c.Item2.X[^1]);
        bool log = UseLogAxis(lo, hi);
        foreach (var (r, (xs, ys)) in cdfs)
        {
            var line = plot.Add.ScatterLine(log ? xs : xs.Select(x => Math.Pow(10, x)).ToArray(), ys, ColorOf(r.Kind));
            line.LineWidth = 2.5f;
            line.MarkerSize = 0;
            line.LegendText = string.Create(CultureInfo.InvariantCulture,
                $"{r.Kind.Key()}: p50 {r.Workload.Latency.P50 / 1000.0:F1}, p99 {r.Workload.Latency.P99 / 1000.0:F1} µs");
        }
        plot.Grid.MajorLineColor = Colors.Black.WithAlpha(0.15);
        plot.Grid.MinorLineColor = Colors.Black.WithAlpha(0.05);
        plot.Grid.MinorLineWidth = 1;
        if (log)
        {
            // A log axis in ScottPlot is a linear axis over log10 values with ticks placed and labelled by
            // hand: 1, 2 and 5 of each decade labelled (a span of one or two decades needs more than the
            // powers of ten to be read), the other integers as minor ticks.
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            for (int decade = (int)Math.Floor(lo); decade <= (int)Math.Ceiling(hi); decade++)
                for (int k = 1; k <= 9; k++)
                {
                    double at = decade + Math.Log10(k);
                    if (k is 1 or 2 or 5) ticks.AddMajor(at, (k * Math.Pow(10, decade)).ToString("0.###", CultureInfo.InvariantCulture));
                    else ticks.AddMinor(at);
                }
            plot.Axes.Bottom.TickGenerator = ticks;
            plot.XLabel("latency per I/O (µs, log scale, virtual time)");
            plot.Axes.SetLimits(Math.Floor(lo), Math.Ceiling(hi), 0, 1.02);
        }
        else
        {
            // All paths within a factor of three: a log axis would squeeze them into lines; use µs directly.
            double a = Math.Pow(10, lo), b = Math.Pow(10, hi), pad = Math.Max((b - a) * 0.05, 0.5);
            plot.XLabel("latency per I/O (µs, virtual time)");
            plot.Axes.SetLimits(Math.Max(0, a - pad), b + pad, 0, 1.02);
        }
        var legend = plot.ShowLegend(Alignment.LowerRight);
        legend.FontSize = 12;
        return plot;
    }

    /// <summary>Whether the CDF panel uses a log latency axis: when the slowest sample is over 3× the fastest.</summary>
    public static bool UseLogAxis(double log10Lo, double log10Hi) => log10Hi - log10Lo > Math.Log10(3);

    /// <summary>
    /// The empirical CDF of sorted <paramref name="samplesNs"/>: (log10 µs, fraction at or below), thinned to
    /// at most ~2000 points (by rank) so a million-sample run stays a small file, keeping both ends.
    /// </summary>
    public static (double[] X, double[] Y) Cdf(IReadOnlyList<ulong> samplesNs)
    {
        int n = samplesNs.Count;
        if (n == 0) return ([], []);
        int step = Math.Max(1, n / 2000);
        var xs = new List<double>();
        var ys = new List<double>();
        for (int i = 0; i < n; i += step) Point(i);
        if ((n - 1) % step != 0) Point(n - 1);
        return (xs.ToArray(), ys.ToArray());

        void Point(int i)
        {
            // Step shape: the CDF jumps at each sample; a 0 ns sample is drawn at 1 ns (log of zero).
            double x = Math.Log10(Math.Max(1, samplesNs[i]) / 1000.0);
            xs.Add(x);
            ys.Add(i / (double)n);
            xs.Add(x);
            ys.Add((i + 1) / (double)n);
        }
    }

    // By the component's own index, so a component keeps its colour whichever others a run shows.
    static Color ComponentColor(IPalette palette, IoComponent c) => palette.GetColor((int)c);

    static Plot Breakdown(IReadOnlyList<PathResult> results)
    {
        var plot = new Plot();
        plot.Title("Mean latency per I/O by component", 14);
        plot.YLabel("mean latency (µs, virtual time)");
        plot.XLabel("I/O path (bar total in the path's colour)");
        double top = results.Count == 0 ? 1 : results.Max(r => r.MeanLatencyNs) / 1000.0;
        // Components too small to see in any path (under 0.3 % of the tallest bar) are left out of the stack and legend.
        var shown = Enum.GetValues<IoComponent>()
            .Where(c => results.Any(r => r.BreakdownNs.TryGetValue(c, out double ns) && ns / 1000.0 >= top * 0.003)).ToList();
        var palette = new ScottPlot.Palettes.Category20();
        var bars = new List<Bar>();
        var legendItems = new List<LegendItem>();
        for (int ci = 0; ci < shown.Count; ci++)
        {
            var color = ComponentColor(palette, shown[ci]);
            legendItems.Add(new LegendItem { LabelText = BenchCommand.Key(shown[ci]), FillColor = color });
        }
        for (int pi = 0; pi < results.Count; pi++)
        {
            var r = results[pi];
            double baseUs = 0;
            for (int ci = 0; ci < shown.Count; ci++)
            {
                double us = r.BreakdownNs.TryGetValue(shown[ci], out double ns) ? ns / 1000.0 : 0;
                if (us <= 0) continue;
                bars.Add(new Bar
                {
                    Position = pi, ValueBase = baseUs, Value = baseUs + us, FillColor = ComponentColor(palette, shown[ci]),
                    LineColor = Colors.White, LineWidth = 0.5f, Size = 0.6,
                });
                baseUs += us;
            }
            double total = r.MeanLatencyNs / 1000.0;
            var label = plot.Add.Text(total.ToString("F1", CultureInfo.InvariantCulture) + " µs", pi, total);
            label.LabelFontColor = ColorOf(r.Kind);
            label.LabelFontSize = 14;
            label.LabelBold = true;
            label.LabelAlignment = Alignment.LowerCenter;
            label.OffsetY = -4;
        }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            results.Select((r, i) => new Tick(i, r.Kind.Key())).ToArray());
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 14;
        plot.Grid.XAxisStyle.IsVisible = false;
        plot.Axes.SetLimits(-0.6, results.Count - 0.4, 0, top * 1.12);
        // Outside the bars, top component first, as the stack reads from the top.
        legendItems.Reverse();
        plot.Legend.ManualItems.AddRange(legendItems);
        plot.Legend.FontSize = 12;
        plot.ShowLegend(Edge.Right);
        return plot;
    }
}
