using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Fabric;
using PcieVirt.Pci;

namespace PcieVirt.Hypervisor.Iommu;

/// <summary>
/// An Intel VT-d style IOMMU at the root complex (set it as <c>RootComplex.Iommu</c>).
/// <para>DMA remapping (VT-d rev. 5.10 §3): a request's requester ID selects a context entry (root table by bus,
/// context table by device/function, legacy mode §3.4.2) naming a domain or pass-through (§3.9); the domain's
/// second-stage table translates the IOVA page by page with read/write permission (§3.7). Leaf translations are
/// cached in an IOTLB (§6.2.4) tagged by (domain, page) with LRU replacement; a miss costs
/// <see cref="IotlbMissPenaltyNs"/> (the page walk) which the root complex adds to its DMA stall time. Changing
/// mappings invalidates the affected entries (§6.5).</para>
/// <para>Interrupt remapping (VT-d §5.1): MSI writes in remappable format carry a handle into the interrupt
/// remapping table; the entry (after source-id validation) either remaps the message or posts it into a
/// vCPU's posted-interrupt descriptor (§5.2). Compatibility-format messages pass through unless
/// <see cref="BlockCompatibilityFormat"/> is set.</para>
/// Faults are counted, kept in a bounded log, raised as <see cref="FaultRecorded"/> and logged; the request
/// is refused. Translation and interrupt remapping allocate nothing.
/// </summary>
public sealed class Iommu : IDmaRemapper
{
    /// <summary>Default IOTLB capacity in 4 KiB entries (latency-anchors §3: misses start between 256 and 512 KiB windows).</summary>
    public const int DefaultIotlbEntries = 64;
    /// <summary>Default IOTLB miss penalty in ns (latency-anchors §3: 826-840 ns with misses vs 560 ns without).</summary>
    public const ulong DefaultIotlbMissPenaltyNs = 280;
    /// <summary>Default number of interrupt remapping table entries.</summary>
    public const int DefaultInterruptRemapEntries = 256;
    /// <summary>Default depth of the recent-fault log.</summary>
    public const int DefaultFaultLogDepth = 64;

    const ulong PageMask = 0xFFF;
    const int PageShift = 12;

    // VT-d rev. 5.10 §5.1.2.2 "Interrupt Requests in Remappable Format" (the layout we follow): address bits
    // 31:20 = FEEh, 19:5 = handle[14:0], bit 4 = Interrupt Format (1 = remappable), bit 3 = SubHandle Valid (SHV),
    // bit 2 = handle[15], bits 1:0 ignored. With SHV set, data bits 15:0 are a subhandle added to the handle
    // (§5.1.3: index = handle + subhandle, so one address can serve a block of MSI vectors) and data bits 31:16
    // are reserved (must be 0); with SHV clear the data is ignored.
    const ulong FormatRemappable = 1UL << 4;
    const ulong SubHandleValid = 1UL << 3;

    readonly ILogger _log;
    readonly IommuDomain?[]?[] _context = new IommuDomain?[]?[256];
    readonly List<IommuDomain> _domains = [];
    readonly IommuDomain _passThrough;
    readonly Iotlb _iotlb;
    readonly InterruptRemapEntry[] _irt;
    readonly bool[] _irtAllocated;
    readonly IommuFault[] _faults;
    int _faultNext;

    /// <summary>
    /// An IOMMU with an IOTLB of <paramref name="iotlbEntries"/> 4 KiB entries whose misses cost
    /// <paramref name="iotlbMissPenaltyNs"/>, an interrupt remapping table of <paramref name="interruptRemapEntries"/>
    /// entries and a log of the last <paramref name="faultLogDepth"/> faults.
    /// </summary>
    public Iommu(int iotlbEntries = DefaultIotlbEntries, ulong iotlbMissPenaltyNs = DefaultIotlbMissPenaltyNs,
        int interruptRemapEntries = DefaultInterruptRemapEntries, int faultLogDepth = DefaultFaultLogDepth, ILogger? logger = null)
    {
        if (interruptRemapEntries is < 1 or > 65536)
            throw new ArgumentOutOfRangeException(nameof(interruptRemapEntries), "the interrupt remapping table holds 1 to 65536 entries (16-bit index)");
        if (faultLogDepth < 1) throw new ArgumentOutOfRangeException(nameof(faultLogDepth), "the fault log needs at least one entry");
        _iotlb = new Iotlb(iotlbEntries);
        IotlbMissPenaltyNs = iotlbMissPenaltyNs;
        _irt = new InterruptRemapEntry[interruptRemapEntries];
        _irtAllocated = new bool[interruptRemapEntries];
        _faults = new IommuFault[faultLogDepth];
        _log = logger ?? NullLogger.Instance;
        _passThrough = new IommuDomain(this, 0, "pass-through", passThrough: true);
    }

    /// <summary>An IOMMU whose IOTLB capacity and miss penalty come from the timing table (iotlb_entries, iotlb_miss_penalty_ns).</summary>
    public static Iommu FromTiming(Timing.TimingParameters timing, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(timing);
        return new Iommu((int)timing[Timing.TimingParameter.IotlbEntries], timing[Timing.TimingParameter.IotlbMissPenalty], logger: logger);
    }

    /// <summary>IOTLB capacity in 4 KiB entries.</summary>
    public int IotlbCapacity => _iotlb.Capacity;
    /// <summary>Valid IOTLB entries now.</summary>
    public int IotlbCount => _iotlb.Count;
    /// <summary>Extra latency of a translation that misses the IOTLB.</summary>
    public ulong IotlbMissPenaltyNs { get; }
    /// <summary>Translations served from the IOTLB.</summary>
    public long IotlbHits { get; private set; }
    /// <summary>Translations that walked the domain's table.</summary>
    public long IotlbMisses { get; private set; }
    /// <summary>Entries replaced to make room (LRU).</summary>
    public long IotlbEvictions => _iotlb.Evictions;
    /// <summary>Entries removed by invalidation (unmap, detach, explicit).</summary>
    public long IotlbInvalidations => _iotlb.Invalidations;
    /// <summary>DMA requests passed through by the identity domain.</summary>
    public long PassThroughTranslations { get; private set; }
    /// <summary>Faults since creation (the log keeps only the most recent ones).</summary>
    public long TotalFaults { get; private set; }
    /// <summary>Depth of the recent-fault log.</summary>
    public int FaultLogDepth => _faults.Length;
    /// <summary>Interrupts remapped to a host vector.</summary>
    public long InterruptsRemapped { get; private set; }
    /// <summary>Interrupts posted into a descriptor.</summary>
    public long InterruptsPosted { get; private set; }
    /// <summary>Compatibility-format interrupts passed through.</summary>
    public long InterruptsPassedThrough { get; private set; }
    /// <summary>Interrupts blocked (each also a fault).</summary>
    public long InterruptsBlocked { get; private set; }

    /// <summary>Blocks compatibility-format MSIs (VT-d Global Command CFI clear with interrupt remapping on): they fault.</summary>
    public bool BlockCompatibilityFormat { get; set; }

    /// <summary>Size of the interrupt remapping table.</summary>
    public int InterruptRemapTableSize => _irt.Length;

    /// <summary>Raised for every fault after it is recorded.</summary>
    public event Action<IommuFault>? FaultRecorded;

    /// <summary>The domains created so far.</summary>
    public IReadOnlyList<IommuDomain> Domains => _domains;

    /// <summary>The shared identity domain <see cref="AttachPassThrough"/> uses.</summary>
    public IommuDomain PassThroughDomain => _passThrough;

    // ------------------------------------------------------------------ domains and context entries

    /// <summary>Creates an empty domain (ids start at 1; 0 is the pass-through domain).</summary>
    public IommuDomain CreateDomain(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var d = new IommuDomain(this, _domains.Count + 1, name, passThrough: false);
        _domains.Add(d);
        return d;
    }

    /// <summary>Points <paramref name="requester"/>'s context entry at <paramref name="domain"/> (replacing any previous one).</summary>
    public void Attach(Bdf requester, IommuDomain domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (!ReferenceEquals(domain, _passThrough) && !_domains.Contains(domain))
            throw new ArgumentException($"domain '{domain.Name}' belongs to another IOMMU", nameof(domain));
        var table = _context[requester.Bus] ??= new IommuDomain?[256];
        if (table[requester.DevFn] is { } old && old != domain) Detach(requester);
        table[requester.DevFn] = domain;
        Log.Attached(_log, requester, domain.ToString());
    }

    /// <summary>Host-owned function (e.g. the PF its host driver runs): its DMA addresses are host addresses (VT-d translation type pass-through).</summary>
    public void AttachPassThrough(Bdf requester) => Attach(requester, _passThrough);

    /// <summary>
    /// Clears <paramref name="requester"/>'s context entry: its DMA faults from now on. The domain's IOTLB entries
    /// are invalidated (domain-selective invalidation, as software does after changing a context entry, VT-d §6.5).
    /// </summary>
    public void Detach(Bdf requester)
    {
        var table = _context[requester.Bus];
        if (table?[requester.DevFn] is not { } d) return;
        table[requester.DevFn] = null;
        if (!d.IsPassThrough) _iotlb.InvalidateDomain(d.Id);
        Log.Detached(_log, requester, d.ToString());
    }

    /// <summary>The domain <paramref name="requester"/> is attached to, or null.</summary>
    public IommuDomain? DomainOf(Bdf requester) => _context[requester.Bus]?[requester.DevFn];

    /// <summary>
    /// A listing for teaching and debugging: the context entries (requester → domain), each domain's mapped
    /// runs, the present interrupt remapping entries and the counters.
    /// </summary>
    public string Describe()
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("context entries:");
        for (int bus = 0; bus < 256; bus++)
        {
            var table = _context[bus];
            if (table == null) continue;
            for (int devfn = 0; devfn < 256; devfn++)
                if (table[devfn] is { } d) sb.AppendLine($"  {Bdf.FromBusDevFn(bus, devfn)} -> {d}");
        }
        foreach (var d in _domains)
        {
            sb.AppendLine($"domain {d.Id} '{d.Name}':");
            foreach (var line in d.DescribeMappings()) sb.AppendLine("  " + line);
        }
        sb.AppendLine("interrupt remapping entries:");
        for (int i = 0; i < _irt.Length; i++)
        {
            var e = _irt[i];
            if (!e.Present) continue;
            sb.AppendLine(e.PostedDescriptor is null
                ? $"  {i}: source {e.SourceId} remapped -> vector 0x{e.Vector:x2} destination {e.Destination}"
                : $"  {i}: source {e.SourceId} posted -> guest vector 0x{e.Vector:x2}");
        }
        sb.AppendLine($"IOTLB: {IotlbCount}/{IotlbCapacity} entries, {IotlbHits} hits, {IotlbMisses} misses, miss penalty {IotlbMissPenaltyNs} ns");
        sb.AppendLine($"faults: {TotalFaults}");
        return sb.ToString();
    }

    /// <summary>True when the IOTLB holds a translation of <paramref name="iova"/>'s page in <paramref name="domain"/>.</summary>
    public bool IotlbContains(IommuDomain domain, ulong iova) => _iotlb.Contains(domain.Id, iova >> PageShift);

    /// <summary>Global IOTLB invalidation.</summary>
    public void InvalidateIotlb() => _iotlb.InvalidateAll();

    internal void InvalidateRange(IommuDomain domain, ulong iova, ulong size)
    {
        ulong pages = size >> PageShift;
        if (pages > (ulong)_iotlb.Capacity) _iotlb.InvalidateDomain(domain.Id); // cheaper than page by page
        else
            for (ulong p = 0; p < pages; p++) _iotlb.InvalidatePage(domain.Id, (iova >> PageShift) + p);
    }

    /// <summary>Sets the hit/miss and fault counters to zero (the fault log stays).</summary>
    public void ResetCounters()
    {
        IotlbHits = IotlbMisses = PassThroughTranslations = 0;
        InterruptsRemapped = InterruptsPosted = InterruptsPassedThrough = InterruptsBlocked = 0;
    }

    // ------------------------------------------------------------------ DMA remapping

    /// <inheritdoc/>
    public bool TryTranslate(Bdf requester, ulong address, int length, bool write, out ulong hostAddress, out ulong stallNs)
    {
        hostAddress = 0;
        stallNs = 0;
        var domain = _context[requester.Bus]?[requester.DevFn];
        if (domain == null) return Fault(requester, address, write, IommuFaultReason.NoDomain);
        if (length <= 0 || (address & PageMask) + (ulong)length > PageMask + 1)
            return Fault(requester, address, write, IommuFaultReason.Malformed);
        if (domain.IsPassThrough)
        {
            PassThroughTranslations++;
            hostAddress = address;
            return true;
        }
        ulong page = address >> PageShift;
        bool hit = _iotlb.TryLookup(domain.Id, page, out ulong entry);
        if (hit) IotlbHits++;
        else
        {
            IotlbMisses++;
            stallNs = IotlbMissPenaltyNs;
            entry = domain.Walk(address);
            if (entry == 0) return Fault(requester, address, write, IommuFaultReason.NotMapped);
            // The leaf is cached whatever the access; the permission check below applies to hits and misses alike.
            _iotlb.Insert(domain.Id, page, entry);
        }
        if ((entry & (write ? IommuDomain.WriteBit : IommuDomain.ReadBit)) == 0)
            return Fault(requester, address, write,
                write ? IommuFaultReason.WriteNotPermitted : IommuFaultReason.ReadNotPermitted);
        hostAddress = (entry & IommuDomain.FrameMask) | (address & PageMask);
        Log.Translated(_log, requester, write ? "write" : "read", address, hostAddress, hit ? "IOTLB hit" : "IOTLB miss");
        return true;
    }

    // ------------------------------------------------------------------ interrupt remapping

    /// <summary>The remappable-format MSI address for <paramref name="handle"/> (SHV clear): what software programs into an MSI-X entry.</summary>
    public static ulong RemappableMsiAddress(int handle)
    {
        if (handle is < 0 or > 0xFFFF) throw new ArgumentOutOfRangeException(nameof(handle), "a handle is 16 bits");
        return InterruptController.MsiBase | ((ulong)(handle & 0x7FFF) << 5) | FormatRemappable | ((ulong)(handle >> 15) << 2);
    }

    /// <summary>Reserves the lowest free table entry and returns its handle (the entry stays not present until <see cref="SetIrte"/>).</summary>
    public int AllocateIrte()
    {
        for (int i = 0; i < _irtAllocated.Length; i++)
            if (!_irtAllocated[i])
            {
                _irtAllocated[i] = true;
                return i;
            }
        throw new InvalidOperationException($"the interrupt remapping table ({_irt.Length} entries) is full");
    }

    /// <summary>Writes entry <paramref name="handle"/> (marking it allocated).</summary>
    public void SetIrte(int handle, InterruptRemapEntry entry)
    {
        CheckHandle(handle);
        _irt[handle] = entry;
        _irtAllocated[handle] = true;
    }

    /// <summary>Reads entry <paramref name="handle"/>.</summary>
    public InterruptRemapEntry GetIrte(int handle)
    {
        CheckHandle(handle);
        return _irt[handle];
    }

    /// <summary>Clears entry <paramref name="handle"/> (not present) and returns it to the free pool.</summary>
    public void FreeIrte(int handle)
    {
        CheckHandle(handle);
        _irt[handle] = default;
        _irtAllocated[handle] = false;
    }

    void CheckHandle(int handle)
    {
        if ((uint)handle >= (uint)_irt.Length)
            throw new ArgumentOutOfRangeException(nameof(handle), $"handle {handle} is outside the interrupt remapping table (0-{_irt.Length - 1})");
    }

    /// <inheritdoc/>
    public InterruptRemapOutcome RemapInterrupt(Bdf requester, ulong address, uint data, out ulong hostAddress, out uint hostData)
    {
        hostAddress = 0;
        hostData = 0;
        if ((address & FormatRemappable) == 0)
        {
            // Compatibility format (VT-d §5.1.2.1): the message is an ordinary xAPIC MSI (interrupt format bit clear).
            if (BlockCompatibilityFormat) return BlockInterrupt(requester, address, IommuFaultReason.CompatibilityFormatBlocked);
            InterruptsPassedThrough++;
            hostAddress = address;
            hostData = data;
            Log.Interrupt(_log, requester, address, data, "passed through (compatibility format)");
            return InterruptRemapOutcome.PassThrough;
        }
        int index = (int)((address >> 5) & 0x7FFF) | (int)(((address >> 2) & 1) << 15);
        if ((address & SubHandleValid) != 0)
        {
            if ((data >> 16) != 0) return BlockInterrupt(requester, address, IommuFaultReason.InterruptRequestReserved);
            index += (int)(data & 0xFFFF);
        }
        if ((uint)index >= (uint)_irt.Length) return BlockInterrupt(requester, address, IommuFaultReason.InterruptIndexOutOfRange);
        ref readonly var e = ref _irt[index];
        if (!e.Present) return BlockInterrupt(requester, address, IommuFaultReason.InterruptEntryNotPresent);
        if (e.SourceId != requester) return BlockInterrupt(requester, address, IommuFaultReason.InterruptSourceIdMismatch);
        if (e.PostedDescriptor is { } pid)
        {
            InterruptsPosted++;
            pid.Post(e.Vector);
            Log.Interrupt(_log, requester, address, data, "posted");
            return InterruptRemapOutcome.Posted;
        }
        // Remapped: a compatibility-format message to the entry's destination (xAPIC: destination ID in address
        // bits 19:12), fixed delivery, edge triggered, the entry's vector in data bits 7:0.
        InterruptsRemapped++;
        hostAddress = InterruptController.MsiBase | ((ulong)(e.Destination & 0xFF) << 12);
        hostData = e.Vector;
        Log.Interrupt(_log, requester, address, data, "remapped");
        return InterruptRemapOutcome.Remapped;
    }

    InterruptRemapOutcome BlockInterrupt(Bdf requester, ulong address, IommuFaultReason reason)
    {
        InterruptsBlocked++;
        Fault(requester, address, true, reason);
        return InterruptRemapOutcome.Blocked;
    }

    // ------------------------------------------------------------------ faults

    /// <summary>The most recent faults (up to <see cref="FaultLogDepth"/>), oldest first (allocates; for tools and tests).</summary>
    public IommuFault[] RecentFaults()
    {
        int n = (int)Math.Min(TotalFaults, _faults.Length);
        var result = new IommuFault[n];
        for (int i = 0; i < n; i++) result[i] = _faults[(_faultNext - n + i + _faults.Length) % _faults.Length];
        return result;
    }

    /// <summary>The most recent fault, if any.</summary>
    public IommuFault? LastFault => TotalFaults == 0 ? null : _faults[(_faultNext - 1 + _faults.Length) % _faults.Length];

    bool Fault(Bdf requester, ulong address, bool write, IommuFaultReason reason)
    {
        var f = new IommuFault(requester, address, write, reason);
        _faults[_faultNext] = f;
        _faultNext = (_faultNext + 1) % _faults.Length;
        TotalFaults++;
        Log.Fault(_log, reason >= IommuFaultReason.CompatibilityFormatBlocked ? "interrupt" : write ? "DMA write" : "DMA read",
            requester, address, reason);
        FaultRecorded?.Invoke(f);
        return false;
    }
}
