using System.Globalization;
using System.Text.Json;
using PcieVirt.Hypervisor.Failover;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Platform.Model;

namespace PcieVirt.Cli;

/// <summary>Parsed arguments of <c>pcievirt failover</c>.</summary>
public sealed record FailoverArguments(int Ops, ulong Seed, int Depth, bool Json, string? TraceOut)
{
    public const string Usage = "usage: pcievirt failover [--model FILE] --ops N --seed S [--iodepth N] [--json] [--trace-out FILE.json]";
    /// <summary>The model failover uses when no --model is given.</summary>
    public const string DefaultModel = "devicemodels/mriov-2host.json";

    /// <summary>Parses the words after <c>failover</c>; on failure returns null and a message naming the bad argument.</summary>
    public static (FailoverArguments? Args, string? Error) Parse(IReadOnlyList<string> args)
    {
        int? ops = null;
        ulong? seed = null;
        int depth = 8;
        bool json = false;
        string? traceOut = null;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--json") { json = true; continue; }
            if (a is not ("--ops" or "--seed" or "--iodepth" or "--trace-out")) return (null, $"unknown argument '{a}'");
            if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal)) return (null, $"{a} needs a value");
            string v = args[++i];
            switch (a)
            {
                case "--ops":
                    if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 2 || n > 1_000_000) return (null, $"--ops '{v}' is not 2..1000000");
                    ops = n;
                    break;
                case "--seed":
                    if (!ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out ulong s)) return (null, $"--seed '{v}' is not a non-negative integer");
                    seed = s;
                    break;
                case "--iodepth":
                    if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int d) || d < 1 || d > 63) return (null, $"--iodepth '{v}' is not 1..63");
                    depth = d;
                    break;
                default:
                    if (traceOut != null) return (null, "--trace-out given twice");
                    traceOut = v;
                    break;
            }
        }
        if (ops is null) return (null, "--ops N is required");
        if (seed is null) return (null, "--seed S is required (the same seed gives the same run)");
        return (new FailoverArguments(ops.Value, seed.Value, depth, json, traceOut), null);
    }

    /// <summary>Finds <see cref="DefaultModel"/> from the working directory or the program's directory upwards.</summary>
    public static string? FindDefaultModel()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, DefaultModel);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }
}

/// <summary><c>pcievirt failover</c>: host A fails mid-I/O, its PF moves to host B, nothing acknowledged is lost.</summary>
public static class FailoverCommand
{
    /// <summary>Runs the scenario; exit code 0 when no acknowledged write was lost and no unit was torn.</summary>
    public static int Run(PlatformModel model, FailoverArguments args, TextWriter stdout, TextWriter stderr)
    {
        var trace = args.TraceOut is null ? null : new EventTrace();
        FailoverResult r;
        try
        {
            // Prefill, the interrupted run and the read-back: about three passes over the units.
            using var progress = ProgressBar.ForConsole(stderr, "failover", 3L * args.Ops);
            r = FailoverScenario.Run(model, new FailoverOptions { Ops = args.Ops, Seed = args.Seed, IoDepth = args.Depth, Trace = trace, Progress = progress.Report });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or PcieVirt.Devices.Driver.NvmeDriverException)
        {
            stderr.WriteLine($"pcievirt failover: {e.Message}");
            return 1;
        }
        if (trace != null)
        {
            try
            {
                using var f = File.Create(args.TraceOut!);
                TraceEventWriter.Write(f, [($"pcievirt failover --ops {args.Ops} --seed {args.Seed}", trace)]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"pcievirt failover: cannot write {args.TraceOut}: {e.Message}");
                return 1;
            }
        }
        if (args.Json) stdout.WriteLine(JsonSerializer.Serialize(r, JsonOptions));
        else Print(r, stdout);
        return r.LostAcknowledged == 0 && r.Torn == 0 && r.ReadErrors == 0 ? 0 : 1;
    }

    static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    static void Print(FailoverResult r, TextWriter o)
    {
        static string T(ulong ns) => ns >= 1_000_000 ? (ns / 1e6).ToString("F3", CultureInfo.InvariantCulture) + " ms"
            : (ns / 1e3).ToString("F1", CultureInfo.InvariantCulture) + " us";
        o.WriteLine($"failover: {r.MovedPf} from {r.HostA} to {r.HostB} (now {r.NewAddress}), volume {r.Volume}");
        o.WriteLine($"  prefilled (old data)       {r.Prefilled} x 4 KiB, all acknowledged");
        o.WriteLine($"  written before failure     {r.Written}");
        o.WriteLine($"  acknowledged               {r.Acknowledged}");
        o.WriteLine($"  in flight at failure       {r.InFlightAtFailure} (read back new: {r.InFlightNew}, old: {r.InFlightOld})");
        o.WriteLine($"  lost acknowledged          {r.LostAcknowledged}");
        o.WriteLine($"  torn units                 {r.Torn}");
        o.WriteLine($"  verified on {r.HostB,-14} {r.Verified} units, {r.ReadErrors} read errors");
        o.WriteLine($"  host A after failure       {r.UpstreamRefused} DMA reads UR, {r.UpstreamDropped} DMA writes/MSIs dropped, {r.HostRequestsRefused} host requests refused");
        o.WriteLine($"  host B rescan              {r.HostBFunctionsKept} existing functions, BARs {(r.HostBBarsUnchanged ? "unchanged" : "MOVED")}");
        o.WriteLine($"  failure at                 t={T(r.FailureAtNs)}");
        o.WriteLine($"  detect                     {T(r.DetectNs)} (MR-PCIM heartbeat timeout)");
        o.WriteLine($"  move                       {T(r.MoveNs)} (BF table write, hot-remove, hot-add)");
        o.WriteLine($"  rescan                     {T(r.RescanNs)} (100 ms link-up wait, §6.6.1, then one slot)");
        o.WriteLine($"  bring-up                   {T(r.BringUpNs)} (PF driver, SR-IOV enable, VF provisioning, VM, guest driver)");
        o.WriteLine($"  first read                 {T(r.FirstReadNs)}");
        o.WriteLine($"  failover time              {T(r.FailoverNs)} (failure to the replacement guest's first successful read)");
    }
}
