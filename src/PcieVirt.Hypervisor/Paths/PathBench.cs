using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Platform.Model;

namespace PcieVirt.Hypervisor.Paths;

/// <summary>
/// Runs the same workload through each I/O path, each on a freshly booted system from the same model and
/// seed, and collects comparable results.
/// </summary>
public static class PathBench
{
    /// <summary>Runs <paramref name="kind"/>.</summary>
    public static PathResult Run(PathKind kind, PlatformModel model, PathOptions options) => Open(kind, model, options).Run();

    /// <summary>Boots a system from <paramref name="model"/> and sets up <paramref name="kind"/> without running the workload.</summary>
    public static PathSession Open(PathKind kind, PlatformModel model, PathOptions options) => kind switch
    {
        PathKind.BareMetal => BareMetalPath.Open(model, options),
        PathKind.Vf => VfPath.Open(model, options),
        PathKind.Emulated => EmulatedPath.Open(model, options),
        PathKind.Paravirtual => ParavirtualPath.Open(model, options),
        _ => throw new NotSupportedException($"the {kind.Key()} path is not built yet"),
    };

    /// <summary>Runs every path in <paramref name="kinds"/> (all four when null), in order.</summary>
    public static IReadOnlyList<PathResult> RunAll(PlatformModel model, PathOptions options, IEnumerable<PathKind>? kinds = null) =>
        (kinds ?? Enum.GetValues<PathKind>()).Select(k => Run(k, model, options)).ToList();

    /// <summary>
    /// Gathers what a finished <paramref name="workload"/> measured: exits and host CPU from the guest's
    /// <paramref name="cpu"/> and the hypervisor's own <paramref name="hostThreads"/>, the breakdown's means.
    /// </summary>
    internal static PathResult Collect(PathKind kind, BlockWorkload workload, CpuTimeline cpu, IReadOnlyList<CpuTimeline> hostThreads,
        IReadOnlyDictionary<string, long> counters)
    {
        var result = workload.Result();
        double ops = Math.Max(1, result.Ops);
        var exits = Enum.GetValues<ExitReason>().ToDictionary(r => r, r => cpu.Exits(r) / ops);
        ulong hostCpu = cpu.HostCpuNs;
        foreach (var t in hostThreads) hostCpu += t.Actor.BusyNs;
        var breakdown = Enum.GetValues<IoComponent>().ToDictionary(c => c, c => cpu.Breakdown.MeanNs(c));
        return new PathResult(kind, result, exits, hostCpu / ops, breakdown, counters);
    }
}
