using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Paths;

/// <summary>Media the bench can put under the array instead of the model's.</summary>
public enum PathMedia
{
    /// <summary>NAND flash NVMe drives (about 77 us reads).</summary>
    Nand,
    /// <summary>Optane-class drives (about 9 us reads).</summary>
    Optane,
    /// <summary>7,200 rpm disks (milliseconds).</summary>
    Hdd,
    /// <summary>Media that take no time: the I/O path alone.</summary>
    Null,
}

/// <summary>The workload and environment every path runs the same way.</summary>
public sealed record PathOptions
{
    /// <summary>The workload (pattern, block size, depth, ops, seed, verify).</summary>
    public WorkloadOptions Workload { get; init; } = new() { Pattern = WorkloadPattern.RandRead, BlockSize = 4096, IoDepth = 1, Ops = 1000, Seed = 1 };
    /// <summary>The timing model's parameters.</summary>
    public TimingParameters Timing { get; init; } = new();
    /// <summary>The RAID volume all paths use; null = the first volume the model attaches to a VF.</summary>
    public string? Volume { get; init; }
    /// <summary>Size of the guest's virtual disk file on the software paths (bytes).</summary>
    public ulong VirtualDiskBytes { get; init; } = 64UL << 20;
    /// <summary>Drive media for the experiment (null: as the model says): the same array on other media.</summary>
    public PathMedia? Media { get; init; }
    /// <summary>Records every costed step of the measured phase when set (for looking at, and trace files).</summary>
    public PcieVirt.Hypervisor.Sim.PathTrace? Trace { get; init; }
    /// <summary>Told the number of measured I/Os completed so far, every 64 completions (for a progress display); null = none.</summary>
    public Action<int>? Progress { get; init; }
    /// <summary>Guest RAM (bytes).</summary>
    public ulong GuestMemoryBytes { get; init; } = 256UL << 20;
}
