using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Iommu;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform.HostOs;

namespace PcieVirt.Hypervisor.Fuzz;

/// <summary>
/// One fuzzed function (the PF or a VF) and what the fuzzer keeps for it: its host RAM region (identity-mapped
/// in its IOMMU domain for a VF; the PF is pass-through), its reference driver, the acknowledged blocks it
/// wrote, and the read-only bits of its config space as they were at the start.
/// </summary>
public sealed class FuzzLane
{
    /// <summary>Blocks of acknowledged data each function keeps (one tag per block).</summary>
    public const int Slots = 256;

    internal FuzzLane(int number, PciAddress address, ulong regionBase, ulong regionSize, ulong scratchSize)
    {
        Number = number;
        Address = address;
        RegionBase = regionBase;
        RegionSize = regionSize;
        ScratchBase = regionBase;
        ScratchSize = scratchSize;
    }

    /// <summary>0 for the PF, n for VF n.</summary>
    public int Number { get; }
    public bool IsPf => Number == 0;
    /// <summary>Where the function is (a VF's is fixed: ARI Capable Hierarchy is never toggled).</summary>
    public PciAddress Address { get; internal set; }
    public string Name => IsPf ? $"PF {Address}" : $"VF{Number} {Address}";
    /// <summary>The host RAM the function's driver and DMA live in.</summary>
    public ulong RegionBase { get; }
    public ulong RegionSize { get; }
    /// <summary>Start of the scratch area (bogus PRPs and MSI-X targets inside the domain point here; nothing checks its bytes).</summary>
    public ulong ScratchBase { get; }
    public ulong ScratchSize { get; }
    /// <summary>The VF's IOMMU domain (null for the PF, which is pass-through).</summary>
    public IommuDomain? Domain { get; internal set; }
    /// <summary>The reference driver (null until brought up, or after it was lost).</summary>
    public NvmeDriver? Driver { get; internal set; }
    internal OsHostBus? Bus { get; set; }
    /// <summary>True when the driver must be brought up again before the next valid I/O.</summary>
    public bool Dirty { get; internal set; } = true;
    /// <summary>Namespace the acknowledged data lives in (0 = none).</summary>
    public uint Nsid { get; internal set; }
    public int BlockSize { get; internal set; }
    /// <summary>First LBA of this function's acknowledged-data slots.</summary>
    public ulong LbaBase { get; internal set; }
    /// <summary>First LBA the fuzzer's own data-modifying commands may touch (above every function's slots).</summary>
    public ulong FuzzLbaBase { get; internal set; }
    /// <summary>Per slot: the pattern seed of the acknowledged data there (0 = nothing acknowledged).</summary>
    public ulong[] Tags { get; } = new ulong[Slots];
    internal ulong DataBuffer { get; set; }
    internal ulong ExpectedCc { get; set; }

    /// <summary>True from a reset of the function (FLR, VF disable) until its driver brings it up again: it must not DMA.</summary>
    public bool Quiesced { get; internal set; }

    internal byte[]? RoMask;
    internal byte[]? RoSnapshot;
    internal readonly byte[] Before = new byte[ConfigSpace.Size];
    internal ControllerState BeforeState;
    internal bool BeforeValid;

    /// <summary>The LBA of slot <paramref name="slot"/>.</summary>
    public ulong Lba(int slot) => LbaBase + (ulong)slot;

    /// <summary>The fuzzer's own I/O queue pair (qid 2), or null while the driver is down.</summary>
    internal NvmeQueuePair? FuzzQueue => Driver is { IoQueues.Count: >= 2 } d ? d.IoQueues[1] : null;

    /// <summary>True when <paramref name="address"/> (length <paramref name="length"/>) lies inside this function's region.</summary>
    public bool InRegion(ulong address, ulong length = 1) => address >= RegionBase && address - RegionBase + length <= RegionSize;
}

/// <summary>What of a controller's state another function's step must leave alone.</summary>
internal readonly record struct ControllerState(uint Cc, uint Csts, long Completed, ulong Errors, bool Sq1, bool Cq1, bool Sq2, bool Cq2)
{
    public static ControllerState Of(NvmeController c) => new(c.Cc, c.Csts, c.CommandsCompleted, c.ErrorCount,
        c.SubmissionQueueExists(1), c.CompletionQueueExists(1), c.SubmissionQueueExists(2), c.CompletionQueueExists(2));
}
