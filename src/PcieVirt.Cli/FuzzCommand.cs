using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PcieVirt.Hypervisor.Fuzz;
using PcieVirt.Platform.Model;

namespace PcieVirt.Cli;

/// <summary>Parsed arguments of <c>pcievirt fuzz</c>.</summary>
public sealed record FuzzArguments(FuzzOptions Options, bool Json)
{
    public const string Usage = "usage: pcievirt fuzz [--model FILE] --iterations N --seed S [--vfs N] [--timed] [--stop-on-violation] [--json]";

    /// <summary>Parses the words after <c>fuzz</c>; on failure returns null and a message naming the bad argument.</summary>
    public static (FuzzArguments? Args, string? Error) Parse(IReadOnlyList<string> args)
    {
        long? iterations = null;
        ulong? seed = null;
        int vfs = 4;
        bool json = false, stop = false, timed = false;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--json") { json = true; continue; }
            if (a == "--stop-on-violation") { stop = true; continue; }
            if (a == "--timed") { timed = true; continue; }
            if (a is not ("--iterations" or "--seed" or "--vfs")) return (null, $"unknown argument '{a}'");
            if (i + 1 >= args.Count) return (null, $"{a} needs a value");
            string v = args[++i];
            switch (a)
            {
                case "--iterations":
                    if (!long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n < 1) return (null, $"--iterations '{v}' is not a positive integer");
                    iterations = n;
                    break;
                case "--seed":
                    if (!ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out ulong s)) return (null, $"--seed '{v}' is not a non-negative integer");
                    seed = s;
                    break;
                default:
                    if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int k) || k < 1 || k > 32) return (null, $"--vfs '{v}' is not 1..32");
                    vfs = k;
                    break;
            }
        }
        if (iterations is null) return (null, "--iterations N is required");
        if (seed is null) return (null, "--seed S is required (the same seed replays the same steps)");
        return (new FuzzArguments(new FuzzOptions { Iterations = iterations.Value, Seed = seed.Value, Vfs = vfs, StopOnViolation = stop, Timed = timed }, json), null);
    }
}

/// <summary><c>pcievirt fuzz</c>: the device-surface fuzzer against the model's RAID controller PF and VFs.</summary>
public static class FuzzCommand
{
    /// <summary>Runs the fuzzer; exit code 0 when no invariant was violated, 1 otherwise.</summary>
    public static int Run(PlatformModel model, FuzzArguments args, TextWriter stdout, TextWriter stderr, ILoggerFactory? loggerFactory = null)
    {
        DeviceFuzzer fuzzer;
        try
        {
            fuzzer = new DeviceFuzzer(model, args.Options, loggerFactory);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or PcieVirt.Devices.Driver.NvmeDriverException)
        {
            // The model has no RAID controller with SR-IOV, or its functions cannot be brought up to start with.
            stderr.WriteLine($"pcievirt fuzz: {e.Message}");
            return 1;
        }
        var clock = Stopwatch.StartNew(); // wall time of the run, reported only (the model never sees it)
        FuzzResult result;
        using (var progress = ProgressBar.ForConsole(stderr, "fuzz", args.Options.Iterations))
            result = fuzzer.Run(progress.Report);
        double seconds = clock.Elapsed.TotalSeconds;
        if (args.Json) stdout.WriteLine(result.ToJson(seconds));
        else
        {
            stdout.Write(result.ToText());
            stdout.WriteLine($"wall time: {seconds:F2} s ({(seconds > 0 ? result.Iterations / seconds : 0):F0} steps/s)");
        }
        return result.ViolationCount == 0 ? 0 : 1;
    }
}
