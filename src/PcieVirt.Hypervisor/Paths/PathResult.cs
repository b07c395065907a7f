using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Paths;

/// <summary>What one path measured: latency, throughput, exits and host CPU per I/O, and where the time went.</summary>
public sealed record PathResult(PathKind Kind, WorkloadResult Workload, IReadOnlyDictionary<ExitReason, double> ExitsPerIoByReason,
    double HostCpuNsPerIo, IReadOnlyDictionary<IoComponent, double> BreakdownNs, IReadOnlyDictionary<string, long> Counters)
{
    /// <summary>All exits per completed I/O.</summary>
    public double ExitsPerIo => ExitsPerIoByReason.Values.Sum();

    /// <summary>Completed I/Os per virtual second.</summary>
    public double Iops => Workload.Iops;

    /// <summary>Mean latency (ns) = the sum of the breakdown.</summary>
    public double MeanLatencyNs => BreakdownNs.Values.Sum();
}
