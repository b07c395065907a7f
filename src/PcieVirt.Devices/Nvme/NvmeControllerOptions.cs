using PcieVirt.Pci.Capabilities;

namespace PcieVirt.Devices.Nvme;

/// <summary>When submitted commands are processed.</summary>
public enum NvmeProcessingMode
{
    /// <summary>Synchronously inside the doorbell write that made them visible (and inside CQ head writes that free room).</summary>
    OnDoorbell,
    /// <summary>Only when <see cref="NvmeController.ProcessPending"/> is called (a scheduler or test drives the controller).</summary>
    Explicit,
}

/// <summary>
/// The shape of one NVMe controller: register capabilities, queue and interrupt limits, identify strings,
/// where its registers and MSI-X table sit in its BAR. A PF and each VF build their controller from one of these.
/// </summary>
public sealed record NvmeControllerOptions
{
    /// <summary>Controller ID (CNTLID), unique in the NVM subsystem.</summary>
    public ushort ControllerId { get; init; }

    /// <summary>BAR that holds the registers (MLBAR/MUBAR: BAR0, a 64-bit memory BAR, §2.1.10).</summary>
    public int Bar { get; init; }
    /// <summary>Size of that BAR when the controller defines it (a PF); 0 = the smallest power of two that fits registers, doorbells, MSI-X table and PBA.</summary>
    public ulong BarSize { get; init; }

    /// <summary>Most entries a queue may have (CAP.MQES + 1), 2..65536.</summary>
    public int MaxQueueEntries { get; init; } = 1024;
    /// <summary>Most I/O submission/completion queue pairs (Number of Queues feature limit).</summary>
    public int MaxIoQueuePairs { get; init; } = 16;
    /// <summary>CAP.DSTRD: doorbells are 4 &lt;&lt; DSTRD bytes apart.</summary>
    public int DoorbellStride { get; init; }
    /// <summary>CAP.TO in 500 ms units (the host's bound for the RDY handshake).</summary>
    public byte TimeoutUnits { get; init; } = 20;
    /// <summary>Virtual time from CC.EN 0→1 until CSTS.RDY reads 1; at most CAP.TO.</summary>
    public ulong ReadyDelayNs { get; init; }
    /// <summary>Virtual time from a shutdown notification until CSTS.SHST reads complete.</summary>
    public ulong ShutdownDelayNs { get; init; }
    /// <summary>CAP.MPSMIN and CAP.MPSMAX: memory page sizes 2^(12+n) the controller accepts in CC.MPS.</summary>
    public int MemoryPageSizeMin { get; init; }
    public int MemoryPageSizeMax { get; init; } = 4;
    /// <summary>MDTS: largest transfer is 2^MDTS pages of CAP.MPSMIN; 1..10 here (the controller preallocates that buffer).</summary>
    public int MaxDataTransferExponent { get; init; } = 5;
    /// <summary>Version register; NVMe 1.4 by default (2.0 is accepted as well).</summary>
    public uint Version { get; init; } = NvmeRegisters.Version(1, 4);

    /// <summary>MSI-X table entries (one vector per CQ is natural: MaxIoQueuePairs + 1). Used when the controller adds the MSI-X capability.</summary>
    public int? MsixTableSize { get; init; }
    /// <summary>Where the MSI-X table goes in <see cref="Bar"/> when the controller adds the capability (8-byte aligned, above the doorbells).</summary>
    public uint MsixTableOffset { get; init; } = 0x2000;
    /// <summary>Where the PBA goes.</summary>
    public uint MsixPbaOffset { get; init; } = 0x3000;

    /// <summary>Identify Controller strings (ASCII, space padded).</summary>
    public string SerialNumber { get; init; } = "PCIEVIRT0001";
    public string ModelNumber { get; init; } = "PcieVirt NVMe RAID Controller";
    public string FirmwareRevision { get; init; } = "1.0";
    /// <summary>IEEE OUI (24 bits).</summary>
    public uint IeeeOui { get; init; } = 0x000000;

    /// <summary>VWC: a volatile write cache is present (Flush and the Volatile Write Cache feature then matter).</summary>
    public bool VolatileWriteCache { get; init; } = true;
    /// <summary>Error Information log entries kept (ELPE + 1), 1..256.</summary>
    public int ErrorLogEntries { get; init; } = 64;
    /// <summary>Outstanding Asynchronous Event Requests allowed (AERL + 1), 1..16.</summary>
    public int AsyncEventRequestLimit { get; init; } = 4;
    /// <summary>Concurrent Abort commands allowed (ACL + 1).</summary>
    public int AbortCommandLimit { get; init; } = 4;

    /// <summary>When commands are processed.</summary>
    public NvmeProcessingMode Processing { get; init; } = NvmeProcessingMode.OnDoorbell;

    /// <summary>Fixed virtual time the controller adds to each command (fetch, decode, completion).</summary>
    public ulong CommandOverheadNs { get; init; } = 1_000;

    /// <summary>Present on a primary controller that supports virtualization (the PF of an SR-IOV device).</summary>
    public NvmeVirtualizationOptions? Virtualization { get; init; }
    /// <summary>Set on a secondary controller (a VF): it has no private queues and is usable only while its primary brings it online.</summary>
    public bool IsSecondary { get; init; }
    /// <summary>
    /// CMIC bit 0: the NVM subsystem may contain two or more physical PCIe ports (a multi-PF, e.g.
    /// multi-root aware, controller whose PFs reach different hosts).
    /// </summary>
    public bool MultiplePorts { get; init; }
    /// <summary>SR-IOV VF number (1-based) of a secondary controller, for CMIC and logs.</summary>
    public int VirtualFunctionNumber { get; init; }

    internal int EffectiveMsixTableSize => MsixTableSize ?? Math.Min(2048, MaxIoQueuePairs + 1);

    /// <summary>The MSI-X capability the controller adds when the function has none.</summary>
    public MsixOptions DefaultMsix => new(EffectiveMsixTableSize, Bar, MsixTableOffset, Bar, MsixPbaOffset);

    /// <summary>Bytes of registers and doorbells for every queue the controller can have.</summary>
    public ulong RegisterSpaceLength => (ulong)NvmeRegisters.DoorbellOffset(MaxIoQueuePairs + 1, false, DoorbellStride);

    /// <summary>Checks the options; returns an error text or null.</summary>
    public string? Validate()
    {
        if (Bar is < 0 or > 4) return "the register BAR must be 0..4 (a 64-bit BAR takes two registers)";
        if (MaxQueueEntries is < 2 or > 65536) return "MaxQueueEntries must be 2..65536";
        if (MaxIoQueuePairs is < 0 or > 65535) return "MaxIoQueuePairs must be 0..65535";
        if (DoorbellStride is < 0 or > 15) return "DoorbellStride must be 0..15";
        if (TimeoutUnits == 0) return "CAP.TO must be at least 1 (500 ms)";
        if (ReadyDelayNs > TimeoutUnits * 500_000_000UL) return "ReadyDelayNs exceeds CAP.TO";
        if (MemoryPageSizeMin is < 0 or > 15 || MemoryPageSizeMax < MemoryPageSizeMin || MemoryPageSizeMax > 15)
            return "memory page sizes must satisfy 0 <= MPSMIN <= MPSMAX <= 15";
        if (MaxDataTransferExponent is < 1 or > 10) return "MaxDataTransferExponent must be 1..10";
        if (ErrorLogEntries is < 1 or > 256) return "ErrorLogEntries must be 1..256";
        if (AsyncEventRequestLimit is < 1 or > 16) return "AsyncEventRequestLimit must be 1..16";
        if (AbortCommandLimit is < 1 or > 256) return "AbortCommandLimit must be 1..256";
        if (EffectiveMsixTableSize is < 1 or > 2048) return "the MSI-X table has 1..2048 entries";
        if (RegisterSpaceLength > MsixTableOffset && MsixTableOffset != 0)
            return $"doorbells (up to 0x{RegisterSpaceLength:x}) overlap the MSI-X table at 0x{MsixTableOffset:x}";
        if (IsSecondary && Virtualization != null) return "a secondary controller cannot be a primary controller";
        if (Virtualization?.Validate() is { } v) return v;
        return null;
    }
}

/// <summary>One secondary controller a primary controller manages (an entry of the Secondary Controller List).</summary>
/// <param name="ControllerId">Secondary Controller ID (SCID), unique in the subsystem.</param>
/// <param name="VirtualFunctionNumber">SR-IOV VF number (1-based) it belongs to; 0 = not a VF.</param>
public sealed record NvmeSecondaryControllerDefinition(ushort ControllerId, ushort VirtualFunctionNumber);

/// <summary>
/// Virtualization resources of a primary controller (NVMe 1.4 §8.5, Primary Controller Capabilities):
/// Virtual Queue (VQ) and Virtual Interrupt (VI) resources, private to the primary or flexible (assignable
/// to secondary controllers with Virtualization Management).
/// </summary>
public sealed record NvmeVirtualizationOptions
{
    /// <summary>VQPRT: queue resources private to the primary (one is its admin queue).</summary>
    public int PrivateQueues { get; init; } = 2;
    /// <summary>VIPRT: interrupt resources private to the primary.</summary>
    public int PrivateInterrupts { get; init; } = 1;
    /// <summary>VQFRT: flexible queue resources.</summary>
    public int FlexibleQueues { get; init; } = 64;
    /// <summary>VIFRT: flexible interrupt resources.</summary>
    public int FlexibleInterrupts { get; init; } = 32;
    /// <summary>VQFRSM: most flexible queue resources one secondary may hold.</summary>
    public int MaxQueuesPerSecondary { get; init; } = 8;
    /// <summary>VIFRSM: most flexible interrupt resources one secondary may hold.</summary>
    public int MaxInterruptsPerSecondary { get; init; } = 8;
    /// <summary>VQGRAN / VIGRAN: preferred granularity of assignments.</summary>
    public int QueueGranularity { get; init; } = 1;
    public int InterruptGranularity { get; init; } = 1;
    /// <summary>The secondary controllers (at most 127, the Secondary Controller List's capacity).</summary>
    public IReadOnlyList<NvmeSecondaryControllerDefinition> Secondaries { get; init; } = [];

    /// <summary>Checks the options; returns an error text or null.</summary>
    public string? Validate()
    {
        if (PrivateQueues < 1) return "the primary needs at least one private queue resource (its admin queue)";
        if (PrivateInterrupts < 1) return "the primary needs at least one private interrupt resource";
        if (FlexibleQueues < 0 || FlexibleInterrupts < 0) return "flexible resource totals cannot be negative";
        if (PrivateQueues > 0xFFFF || PrivateInterrupts > 0xFFFF) return "private resources are 16-bit counts";
        if (MaxQueuesPerSecondary is < 0 or > 0xFFFF || MaxInterruptsPerSecondary is < 0 or > 0xFFFF) return "per-secondary maxima are 16-bit counts";
        if (QueueGranularity < 1 || InterruptGranularity < 1) return "granularities are at least 1";
        if (Secondaries.Count > 127) return "at most 127 secondary controllers fit the Secondary Controller List";
        var ids = new HashSet<ushort>();
        foreach (var s in Secondaries)
            if (!ids.Add(s.ControllerId)) return $"secondary controller ID {s.ControllerId} appears twice";
        return null;
    }
}
