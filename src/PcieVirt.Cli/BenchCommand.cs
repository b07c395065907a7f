using System.Globalization;
using System.Text;
using System.Text.Json;
using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Paths;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Platform.Model;

namespace PcieVirt.Cli;

/// <summary>Parsed arguments of <c>pcievirt bench paths</c>.</summary>
public sealed record BenchArguments(PathOptions Options, IReadOnlyList<PathKind> Paths, bool Json, string? TraceOut = null)
{
    /// <summary>Where <c>--plot</c> draws the figure (.png or .svg), or null.</summary>
    public string? PlotOut { get; init; }

    public const string Usage = "usage: pcievirt bench paths [--model FILE] [--rw {read,write,randread,randwrite,randrw}] [--bs SIZE] [--iodepth N] [--ops N] [--seed S] [--verify] [--paths baremetal,vf,paravirtual,emulated] [--volume NAME] [--media nand|optane|hdd|null] [--trace-out FILE.json] [--plot FILE.png|FILE.svg] [--json]";

    /// <summary>Parses the words after <c>bench</c>; on failure returns null and a message naming the bad argument.</summary>
    public static (BenchArguments? Args, string? Error) Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || args[0] != "paths") return (null, "the only benchmark is 'paths'");
        var workload = new WorkloadOptions { Pattern = WorkloadPattern.RandRead, BlockSize = 4096, IoDepth = 1, Ops = 2000, Seed = 1 };
        var paths = Enum.GetValues<PathKind>().ToList();
        string? volume = null, traceOut = null, plot = null;
        PathMedia? media = null;
        bool json = false;
        for (int i = 1; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--json") { json = true; continue; }
            if (a == "--verify") { workload = workload with { Verify = true }; continue; }
            if (a is not ("--rw" or "--bs" or "--iodepth" or "--ops" or "--seed" or "--paths" or "--volume" or "--media" or "--trace-out" or "--plot")) return (null, $"unknown argument '{a}'");
            if (i + 1 >= args.Count) return (null, $"{a} needs a value");
            string v = args[++i];
            switch (a)
            {
                case "--rw":
                    if (!WorkloadOptions.TryParsePattern(v, out var p)) return (null, $"--rw '{v}' is not one of read, write, randread, randwrite, randrw");
                    workload = workload with { Pattern = p };
                    break;
                case "--bs":
                    if (!WorkloadOptions.TryParseSize(v, out int bs)) return (null, $"--bs '{v}' is not a size (bytes, or with k/m suffix, e.g. 4k)");
                    workload = workload with { BlockSize = bs };
                    break;
                case "--iodepth":
                    if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int d) || d < 1 || d > 1023) return (null, $"--iodepth '{v}' is not 1..1023");
                    workload = workload with { IoDepth = d };
                    break;
                case "--ops":
                    if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1) return (null, $"--ops '{v}' is not a positive integer");
                    workload = workload with { Ops = n };
                    break;
                case "--seed":
                    if (!ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out ulong s)) return (null, $"--seed '{v}' is not a non-negative integer");
                    workload = workload with { Seed = s };
                    break;
                case "--paths":
                    paths = [];
                    foreach (var name in v.Split(','))
                    {
                        if (!PathNames.TryParse(name, out var k)) return (null, $"--paths: '{name}' is not one of baremetal, vf, paravirtual, emulated");
                        if (!paths.Contains(k)) paths.Add(k);
                    }
                    break;
                case "--media":
                    media = v switch
                    {
                        "nand" => PathMedia.Nand,
                        "optane" => PathMedia.Optane,
                        "hdd" => PathMedia.Hdd,
                        "null" => PathMedia.Null,
                        _ => null,
                    };
                    if (media is null) return (null, $"--media '{v}' is not one of nand, optane, hdd, null");
                    break;
                case "--trace-out": traceOut = v; break;
                case "--plot":
                    if (PathPlot.FormatOf(v) is null) return (null, $"--plot '{v}' must end in .png or .svg");
                    plot = v;
                    break;
                default: volume = v; break;
            }
        }
        return (new BenchArguments(new PathOptions { Workload = workload, Volume = volume, Media = media }, paths, json, traceOut) { PlotOut = plot }, null);
    }
}

/// <summary>
/// <c>pcievirt bench paths</c>: the same workload through bare metal, an assigned VF, the paravirtual ring
/// and the emulated controller, each on a freshly booted copy of the model, printed side by side.
/// </summary>
public static class BenchCommand
{
    /// <summary>Runs the comparison on <paramref name="model"/>; returns the exit code.</summary>
    public static int Run(PlatformModel model, BenchArguments args, TextWriter stdout, TextWriter stderr)
    {
        var results = new List<PathResult>();
        var traces = new List<(string, PathTrace)>();
        int ops = args.Options.Workload.Ops;
        using var progress = ProgressBar.ForConsole(stderr, "bench paths", (long)ops * args.Paths.Count);
        try
        {
            var timing = TimingParameters.FromModel(model);
            foreach (var k in args.Paths)
            {
                var trace = args.TraceOut is null ? null : new PathTrace();
                long before = (long)results.Count * ops;
                results.Add(PathBench.Run(k, model, args.Options with { Timing = timing, Trace = trace, Progress = n => progress.Report(before + n) }));
                if (trace != null) traces.Add((k.Key(), trace));
            }
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or NotSupportedException or NvmeDriverException or PlatformModelException)
        {
            stderr.WriteLine($"pcievirt bench: {e.Message}");
            return 1;
        }
        progress.Dispose();
        if (args.TraceOut is { } file)
        {
            try
            {
                using var f = File.Create(file);
                TraceEventWriter.Write(f, traces);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"pcievirt bench: cannot write the trace to '{file}': {e.Message}");
                return 1;
            }
        }
        if (args.PlotOut is { } image)
        {
            try
            {
                using var f = File.Create(image);
                PathPlot.Write(f, PathPlot.FormatOf(image)!.Value, results, args.Options);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"pcievirt bench: cannot write the plot to '{image}': {e.Message}");
                return 1;
            }
        }
        stdout.Write(args.Json ? ToJson(results, args.Options) : ToText(results, args.Options));
        return results.All(r => r.Workload.Errors == 0 && r.Workload.VerifyMismatches == 0) ? 0 : 1;
    }

    static string Us(double ns) => (ns / 1000).ToString("F2", CultureInfo.InvariantCulture);

    /// <summary>The side-by-side table.</summary>
    public static string ToText(IReadOnlyList<PathResult> results, PathOptions o)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var w = o.Workload;
        sb.AppendLine(string.Create(c, $"{w.Pattern.ToString().ToLowerInvariant()} bs={w.BlockSize} iodepth={w.IoDepth} ops={w.Ops} seed={w.Seed} (virtual time)"));
        var cols = results.Select(r => r.Kind.Key()).ToList();
        void Row(string name, Func<PathResult, string> cell)
        {
            sb.Append(name.PadRight(22));
            foreach (var r in results) sb.Append(cell(r).PadLeft(13));
            sb.AppendLine();
        }
        Row("", r => r.Kind.Key());
        Row("p50 latency (us)", r => Us(r.Workload.Latency.P50));
        Row("p99 latency (us)", r => Us(r.Workload.Latency.P99));
        Row("p99.9 latency (us)", r => Us(r.Workload.Latency.P999));
        Row("mean latency (us)", r => Us(r.Workload.Latency.Mean));
        Row("IOPS", r => r.Iops.ToString("F0", c));
        Row("x bare metal (mean)", r => results.FirstOrDefault(x => x.Kind == PathKind.BareMetal) is { } bm && bm.Workload.Latency.Mean > 0
            ? (r.Workload.Latency.Mean / (double)bm.Workload.Latency.Mean).ToString("F2", c) : "-");
        Row("exits per I/O", r => r.ExitsPerIo.ToString("F2", c));
        foreach (var reason in Enum.GetValues<ExitReason>())
            if (results.Any(r => r.ExitsPerIoByReason[reason] > 0))
                Row($"  {reason.ToString().ToLowerInvariant()}", r => r.ExitsPerIoByReason[reason].ToString("F2", c));
        Row("host CPU per I/O (us)", r => Us(r.HostCpuNsPerIo));
        sb.AppendLine("mean latency breakdown (us):");
        foreach (var comp in Enum.GetValues<IoComponent>())
            if (results.Any(r => r.BreakdownNs[comp] >= 0.5))
                Row($"  {Key(comp)}", r => Us(r.BreakdownNs[comp]));
        foreach (var r in results.Where(r => r.Workload.Errors > 0 || r.Workload.VerifyMismatches > 0))
            sb.AppendLine(string.Create(c, $"{r.Kind.Key()}: {r.Workload.Errors} errors, {r.Workload.VerifyMismatches} verify mismatches"));
        return sb.ToString();
    }

    /// <summary>The breakdown key of a component in JSON and the table.</summary>
    public static string Key(IoComponent c) => JsonNamingPolicy.SnakeCaseLower.ConvertName(c.ToString());

    /// <summary>The same numbers as JSON: keys baremetal, vf, paravirtual, emulated.</summary>
    public static string ToJson(IReadOnlyList<PathResult> results, PathOptions o)
    {
        using var ms = new MemoryStream();
        using (var j = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartObject();
            var w = o.Workload;
            j.WriteStartObject("workload");
            j.WriteString("rw", w.Pattern.ToString().ToLowerInvariant());
            j.WriteNumber("bs", w.BlockSize);
            j.WriteNumber("iodepth", w.IoDepth);
            j.WriteNumber("ops", w.Ops);
            j.WriteNumber("seed", w.Seed);
            j.WriteEndObject();
            foreach (var r in results)
            {
                j.WriteStartObject(r.Kind.Key());
                var l = r.Workload.Latency;
                j.WriteNumber("p50_us", Math.Round(l.P50 / 1000.0, 3));
                j.WriteNumber("p99_us", Math.Round(l.P99 / 1000.0, 3));
                j.WriteNumber("p999_us", Math.Round(l.P999 / 1000.0, 3));
                j.WriteNumber("mean_us", Math.Round(l.Mean / 1000.0, 3));
                j.WriteNumber("iops", Math.Round(r.Iops, 1));
                j.WriteNumber("exits_per_io", Math.Round(r.ExitsPerIo, 3));
                j.WriteStartObject("exits_per_io_by_reason");
                foreach (var (reason, v) in r.ExitsPerIoByReason) j.WriteNumber(reason.ToString().ToLowerInvariant(), Math.Round(v, 3));
                j.WriteEndObject();
                j.WriteNumber("host_cpu_us_per_io", Math.Round(r.HostCpuNsPerIo / 1000.0, 3));
                j.WriteStartObject("breakdown");
                foreach (var (comp, ns) in r.BreakdownNs) j.WriteNumber(Key(comp) + "_us", Math.Round(ns / 1000.0, 3));
                j.WriteEndObject();
                j.WriteNumber("ops", r.Workload.Ops);
                j.WriteNumber("errors", r.Workload.Errors);
                j.WriteNumber("verify_mismatches", r.Workload.VerifyMismatches);
                j.WriteStartObject("counters");
                foreach (var (k, v) in r.Counters) j.WriteNumber(k, v);
                j.WriteEndObject();
                j.WriteEndObject();
            }
            j.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + Environment.NewLine;
    }
}
