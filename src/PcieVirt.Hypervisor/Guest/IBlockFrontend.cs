using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Sim;

namespace PcieVirt.Hypervisor.Guest;

/// <summary>
/// The block driver a workload runs on, as the OS running the workload sees it: an NVMe driver on a
/// function (bare metal, an assigned VF, an emulated controller) or a virtio-blk driver. Every call runs
/// on the given CPU timeline: the driver spends its costs there and schedules what the
/// hardware or hypervisor does at the cursor. Requests are identified by the workload's slot number.
/// </summary>
public interface IBlockFrontend
{
    /// <summary>Name for reports.</summary>
    string Name { get; }
    /// <summary>Bytes per logical block.</summary>
    int BlockSize { get; }
    /// <summary>Logical blocks of the disk.</summary>
    ulong BlockCount { get; }
    /// <summary>The memory data buffers live in (the guest's physical memory, or host RAM on bare metal).</summary>
    IPhysicalMemory Memory { get; }
    /// <summary>Most requests it keeps outstanding.</summary>
    int MaxDepth { get; }
    /// <summary>Address in <see cref="Memory"/> of slot <paramref name="slot"/>'s data buffer.</summary>
    ulong Buffer(int slot);
    /// <summary>Builds request <paramref name="slot"/> in the queue without telling the device.</summary>
    void Enqueue(CpuTimeline cpu, int slot, bool write, ulong lba, int blocks);
    /// <summary>Tells the device about what was enqueued (doorbell, kick); the cost goes to the current targets.</summary>
    void Notify(CpuTimeline cpu);
    /// <summary>Takes one completed request; false when none is visible.</summary>
    bool TryReap(CpuTimeline cpu, out int slot, out bool success);
    /// <summary>After reaping: interrupt acknowledgement (EOI) and the like.</summary>
    void AfterReap(CpuTimeline cpu);
    /// <summary>The CPU goes idle with requests outstanding (HLT in a guest).</summary>
    void Idle(CpuTimeline cpu);
}
