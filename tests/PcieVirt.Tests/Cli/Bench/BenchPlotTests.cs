using System.Buffers.Binary;
using System.Xml.Linq;
using PcieVirt.Cli;
using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Paths;
using PcieVirt.Platform.Model;
using SkiaSharp;

namespace PcieVirt.Tests.Cli.Bench;

public class BenchPlotTests
{
    static string TempFile(string extension) => Path.Combine(Path.GetTempPath(), $"pcievirt-plot-{Guid.NewGuid():N}{extension}");

    [Test]
    public void Png_is_a_real_image_of_the_figure_size_showing_the_requested_paths_in_their_colours()
    {
        string file = TempFile(".png");
        try
        {
            var r = Pcievirt.Run("bench", "paths", "--ops", "200", "--paths", "baremetal,emulated", "--plot", file);
            Assert.That(r.ExitCode, Is.Zero, r.ToString());
            byte[] bytes = File.ReadAllBytes(file);
            // PNG signature and IHDR (PNG spec §5.2, §11.2.2): width and height big-endian after the chunk header.
            Assert.That(bytes.AsSpan(0, 8).ToArray(), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }));
            Assert.That(System.Text.Encoding.ASCII.GetString(bytes, 12, 4), Is.EqualTo("IHDR"));
            Assert.That(BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), Is.EqualTo(PathPlot.Width));
            Assert.That(BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)), Is.EqualTo(PathPlot.Height));
            Assert.That(bytes.Length, Is.GreaterThan(20_000), "a figure with two panels of lines, bars and text");

            using var bitmap = SKBitmap.Decode(bytes);
            var counts = new Dictionary<uint, int>();
            for (int y = 0; y < bitmap.Height; y += 1)
                for (int x = 0; x < bitmap.Width; x += 1)
                {
                    uint c = (uint)bitmap.GetPixel(x, y) & 0xFFFFFF;
                    counts[c] = counts.GetValueOrDefault(c) + 1;
                }
            Assert.That(counts.Count, Is.GreaterThan(50), "more than a blank canvas");
            int Pixels(PathKind k) => counts.GetValueOrDefault(PathPlot.ColorOf(k).ARGB & 0xFFFFFF);
            // The drawn paths' CDF lines and totals are in their colours; the paths not run are nowhere.
            Assert.That(Pixels(PathKind.BareMetal), Is.GreaterThan(200));
            Assert.That(Pixels(PathKind.Emulated), Is.GreaterThan(200));
            Assert.That(Pixels(PathKind.Vf), Is.LessThan(5));
            Assert.That(Pixels(PathKind.Paravirtual), Is.LessThan(5));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Svg_is_well_formed_and_names_the_paths_and_components()
    {
        string file = TempFile(".svg");
        try
        {
            var r = Pcievirt.Run("bench", "paths", "--ops", "100", "--paths", "vf,paravirtual", "--plot", file);
            Assert.That(r.ExitCode, Is.Zero, r.ToString());
            var doc = XDocument.Load(file);
            Assert.That(doc.Root!.Name.LocalName, Is.EqualTo("svg"));
            Assert.That(doc.Root.Attribute("width")!.Value, Is.EqualTo(PathPlot.Width.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            var text = string.Join("\n", doc.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value));
            Assert.That(text, Does.Contain("vf").And.Contain("paravirtual"));
            Assert.That(text, Does.Not.Contain("emulated").And.Not.Contain("baremetal"));
            // Components of the paravirtual path, titles and axis units.
            Assert.That(text, Does.Contain("backend_wakeup").And.Contain("kick").And.Contain("media"));
            Assert.That(text, Does.Contain("Latency CDF").And.Contain("Mean latency per I/O by component").And.Contain("(µs"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Plot_and_trace_out_and_json_can_be_asked_for_together()
    {
        string png = TempFile(".png"), json = TempFile(".json");
        try
        {
            var r = Pcievirt.Run("bench", "paths", "--ops", "20", "--paths", "vf", "--plot", png, "--trace-out", json, "--json");
            Assert.That(r.ExitCode, Is.Zero, r.ToString());
            Assert.That(File.Exists(png) && File.Exists(json));
            Assert.That(r.Err, Is.Empty, "no progress bar or other noise on a redirected stderr");
        }
        finally
        {
            File.Delete(png);
            File.Delete(json);
        }
    }

    [TestCase("--plot", "out.jpg", "--plot 'out.jpg' must end in .png or .svg")]
    [TestCase("--plot", "noextension", "must end in .png or .svg")]
    public void Bad_plot_file_names_are_refused_before_anything_runs(string flag, string value, string message)
    {
        var r = Pcievirt.Run("bench", "paths", flag, value);
        Assert.That(r.ExitCode, Is.EqualTo(2));
        Assert.That(r.Err, Does.Contain(message));
    }

    [Test]
    public void Plot_without_a_file_is_refused()
    {
        var r = Pcievirt.Run("bench", "paths", "--plot");
        Assert.That(r.ExitCode, Is.EqualTo(2));
        Assert.That(r.Err, Does.Contain("--plot needs a value"));
    }

    [Test]
    public void An_unwritable_plot_file_is_an_error_naming_it()
    {
        string file = Path.Combine(Path.GetTempPath(), $"no-such-dir-{Guid.NewGuid():N}", "p.png");
        var r = Pcievirt.Run("bench", "paths", "--ops", "5", "--paths", "vf", "--plot", file);
        Assert.That(r.ExitCode, Is.EqualTo(1));
        Assert.That(r.Err, Does.Contain("cannot write the plot").And.Contain("p.png"));
    }

    [Test]
    public void Cdf_steps_by_one_sample_from_zero_to_one_on_log_microseconds()
    {
        var (x, y) = PathPlot.Cdf([1_000, 10_000, 10_000, 100_000]);
        // Each sample a vertical step of 1/n at log10 of its latency in µs.
        Assert.That(x, Is.EqualTo(new[] { 0.0, 0, 1, 1, 1, 1, 2, 2 }).Within(1e-12));
        Assert.That(y, Is.EqualTo(new[] { 0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1 }).Within(1e-12));
        Assert.That(PathPlot.Cdf([]).X, Is.Empty);
    }

    [Test]
    public void Cdf_of_many_samples_is_thinned_but_keeps_both_ends()
    {
        var samples = Enumerable.Range(1, 100_000).Select(i => (ulong)i * 10).ToArray();
        var (x, y) = PathPlot.Cdf(samples);
        Assert.That(x.Length, Is.LessThanOrEqualTo(4_002));
        Assert.That(x[0], Is.EqualTo(Math.Log10(0.01)).Within(1e-12));
        Assert.That(x[^1], Is.EqualTo(Math.Log10(1000.0)).Within(1e-12));
        Assert.That(y[^1], Is.EqualTo(1.0));
        Assert.That(y, Is.Ordered);
    }

    [TestCase(1.0, 1.4, false)]
    [TestCase(1.0, 1.6, true)]
    public void Log_axis_only_when_the_spread_is_over_three_times(double lo, double hi, bool log) =>
        Assert.That(PathPlot.UseLogAxis(lo, hi), Is.EqualTo(log));

    [Test]
    public void Workload_result_keeps_every_latency_sorted_and_the_percentiles_come_from_them()
    {
        var options = new PathOptions { Workload = new WorkloadOptions { Pattern = WorkloadPattern.RandRead, BlockSize = 4096, IoDepth = 4, Ops = 300, Seed = 3 } };
        var r = PathBench.Run(PathKind.Vf, PlatformModel.LoadDefault(), options);
        var s = r.Workload.LatencySamplesNs;
        Assert.That(s, Has.Count.EqualTo(300));
        Assert.That(s, Is.Ordered);
        Assert.That(s[0], Is.EqualTo(r.Workload.Latency.Min));
        Assert.That(s[^1], Is.EqualTo(r.Workload.Latency.Max));
        Assert.That(s[149], Is.EqualTo(r.Workload.Latency.P50), "nearest rank: the 150th of 300");
        Assert.That(s.Average(v => (double)v), Is.EqualTo((double)r.Workload.Latency.Mean).Within(1.0));
    }
}
