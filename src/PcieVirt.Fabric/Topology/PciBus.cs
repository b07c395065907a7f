using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Fabric;

/// <summary>What kind of bus segment a <see cref="PciBus"/> is.</summary>
public enum PciBusKind
{
    /// <summary>The root complex's root bus: root ports and RC-integrated endpoints.</summary>
    Root,
    /// <summary>
    /// The link below a downstream port (root port or switch downstream port): one device, which
    /// the port addresses as Device 0 unless ARI Forwarding is enabled (§7.3.1, §7.3.3).
    /// </summary>
    Link,
    /// <summary>A switch's internal bus: the secondary side of its upstream port, holding the downstream ports.</summary>
    SwitchInternal,
}

/// <summary>
/// One bus of the hierarchy and the functions that sit on it, indexed by device/function (the
/// 8-bit function number under ARI). The bus number is not stored: it is the Secondary Bus Number
/// the bridge above is programmed with, so functions move when firmware renumbers the bridge.
/// Functions may be added and removed at run time (hot-plug, SR-IOV VFs).
/// </summary>
public sealed class PciBus
{
    static readonly FunctionSlot?[] s_noSlots = new FunctionSlot?[256];

    readonly FunctionSlot?[] _slots = new FunctionSlot?[256];
    FunctionSlot?[]?[]? _extra;          // bus offset 1..255 → slots, for functions on extra bus numbers
    FunctionSlot[] _members = [];         // every function, sorted by (bus offset, devfn)
    FunctionSlot[] _bridges = [];         // bridges at bus offset 0, by devfn
    FunctionSlot[] _decoders = [];        // members that decode addresses themselves (VFs decode through their PF)
    FunctionSlot[] _sriovPfs = [];        // members that are SR-IOV PFs
    int _lastNumber = -1;

    internal PciBus(RootComplex rootComplex, PciBusKind kind, FunctionSlot? owner)
    {
        RootComplex = rootComplex;
        Kind = kind;
        Owner = owner;
    }

    public RootComplex RootComplex { get; }
    public PciBusKind Kind { get; }

    /// <summary>The bridge whose secondary side this bus is (null for the root bus).</summary>
    public BridgeFunction? Bridge => Owner?.Bridge;

    internal FunctionSlot? Owner { get; }

    /// <summary>
    /// Observer of the TLPs that cross this bus's link (a multi-root link's VH tagging, see
    /// MultiRoot/). Null on ordinary links: one null check per request.
    /// </summary>
    internal ILinkTap? Tap { get; set; }

    /// <summary>Current bus number: the root bus number, or the bridge's Secondary Bus Number.</summary>
    public byte Number => Owner is null ? RootComplex.StartBus : Owner.Bridge!.SecondaryBus;

    /// <summary>The functions on this bus (and on the extra bus numbers it owns), in routing-ID order.</summary>
    public IReadOnlyList<PciFunction> Functions
    {
        get
        {
            var list = new PciFunction[_members.Length];
            for (int i = 0; i < list.Length; i++) list[i] = _members[i].Function;
            return list;
        }
    }

    /// <summary>The function at <paramref name="devFn"/> on this bus number, or null.</summary>
    public PciFunction? FunctionAt(int devFn) => (uint)devFn < 256 ? _slots[devFn]?.Function : null;

    /// <summary>The function at a bus-relative placement, or null.</summary>
    public PciFunction? FunctionAt(BusPlacement placement) =>
        (uint)placement.DevFn < 256 && (uint)placement.BusOffset < 256 ? SlotsAt(placement.BusOffset)[placement.DevFn]?.Function : null;

    /// <summary>Where <paramref name="function"/> sits on this bus, if it does.</summary>
    public BusPlacement? PlacementOf(PciFunction function)
    {
        foreach (var s in _members) if (s.Function == function) return s.Placement;
        return null;
    }

    /// <summary>Adds an endpoint function (Type 0) at <paramref name="devFn"/> of this bus number.</summary>
    public void AddFunction(int devFn, PciFunction function) => AddFunctionAt(new BusPlacement(devFn), function);

    /// <summary>
    /// Adds an endpoint function at a bus-relative placement (e.g. an SR-IOV VF on the PF's bus or
    /// on a bus number beyond it). Bridges are added through the topology types, which create the
    /// bus below them.
    /// </summary>
    public void AddFunctionAt(BusPlacement placement, PciFunction function)
    {
        if (function.IsBridge)
            throw new ArgumentException($"{function.Name}: bridges are added with AddRootPort / ConnectSwitch / AddDownstreamPort");
        Attach(placement, function);
    }

    /// <summary>Removes the function at <paramref name="devFn"/>; false when there is none.</summary>
    public bool RemoveFunction(int devFn) => RemoveFunctionAt(new BusPlacement(devFn));

    /// <summary>Removes the function at a bus-relative placement (and, for a bridge, everything below it).</summary>
    public bool RemoveFunctionAt(BusPlacement placement)
    {
        if ((uint)placement.DevFn > 255 || (uint)placement.BusOffset > 255) return false;
        var slot = SlotsAt(placement.BusOffset)[placement.DevFn];
        if (slot == null) return false;
        Detach(slot);
        return true;
    }

    internal FunctionSlot Attach(BusPlacement placement, PciFunction function)
    {
        placement.Validate();
        if (!function.IsSealed)
            throw new ArgumentException($"{function.Name}: call Seal() before attaching the function to the fabric");
        if (function.IsBridge && placement.BusOffset != 0)
            throw new ArgumentException($"{function.Name}: a bridge sits on its bus's own number (bus offset 0)");
        var slots = placement.BusOffset == 0 ? _slots : ExtraSlots(placement.BusOffset, create: true)!;
        if (slots[placement.DevFn] != null)
            throw new ArgumentException($"devfn 0x{placement.DevFn:x2} (bus offset {placement.BusOffset}) is already occupied by {slots[placement.DevFn]!.Function.Name}");
        RootComplex.Register(function);

        var slot = new FunctionSlot(function, this, placement);
        // An SR-IOV PF brings its VFs with it: the fabric places them whenever VF Enable creates them.
        if (!function.IsVirtualFunction && function.FindCapability<SriovCapability>() is { } sriov)
            slot.Sriov = new SriovAttachment(slot, sriov);
        slots[placement.DevFn] = slot;
        RebuildIndexes();
        slot.UpdateBdf();
        function.Upstream = slot;
        if (placement.BusOffset == 0) UpdateMultiFunction(placement.DevFn >> 3);
        RootComplex.InvalidateRouting();
        slot.Sriov?.Connect();
        return slot;
    }

    /// <summary>
    /// Attaches many endpoint functions (an SR-IOV PF's VFs) at once: one index rebuild and one routing
    /// invalidation for the whole batch. Placements must be free; VFs do not affect the Multi-Function bit.
    /// </summary>
    internal List<FunctionSlot> AttachMany(List<(BusPlacement Placement, PciFunction Function)> batch)
    {
        var result = new List<FunctionSlot>(batch.Count);
        if (batch.Count == 0) return result;
        foreach (var (placement, function) in batch)
        {
            placement.Validate();
            var slots = placement.BusOffset == 0 ? _slots : ExtraSlots(placement.BusOffset, create: true)!;
            if (slots[placement.DevFn] != null || function.IsBridge || !function.IsSealed) continue;
            RootComplex.Register(function);
            var slot = new FunctionSlot(function, this, placement);
            slots[placement.DevFn] = slot;
            function.Upstream = slot;
            result.Add(slot);
        }
        RebuildIndexes();
        foreach (var s in result) s.UpdateBdf();
        RootComplex.InvalidateRouting();
        return result;
    }

    /// <summary>Detaches many endpoint functions at once (the counterpart of <see cref="AttachMany"/>).</summary>
    internal void DetachMany(List<FunctionSlot> batch)
    {
        var gone = new HashSet<PciFunction>();
        foreach (var slot in batch)
        {
            var slots = SlotsAt(slot.Placement.BusOffset);
            if (slots[slot.DevFn] != slot) continue;
            slots[slot.DevFn] = null;
            slot.Function.Upstream = null;
            gone.Add(slot.Function);
        }
        if (gone.Count == 0) return;
        RootComplex.Unregister(gone);
        RebuildIndexes();
        RootComplex.InvalidateRouting();
    }

    /// <summary>Attaches a bridge and creates the bus on its secondary side.</summary>
    internal FunctionSlot AttachBridge(BusPlacement placement, BridgeFunction bridge, PciBusKind childKind)
    {
        var slot = Attach(placement, bridge);
        var child = new PciBus(RootComplex, childKind, slot);
        slot.ChildBus = child;
        bridge.RoutingChanged += child.OnBridgeRoutingChanged;
        return slot;
    }

    internal void Detach(FunctionSlot slot)
    {
        if (slot.Sriov is { } sriov)
        {
            slot.Sriov = null;
            sriov.Disconnect();
        }
        if (slot.ChildBus is { } child)
        {
            slot.Bridge!.RoutingChanged -= child.OnBridgeRoutingChanged;
            foreach (var s in child._members) child.Detach(s);
        }
        var slots = SlotsAt(slot.Placement.BusOffset);
        if (slots[slot.DevFn] != slot) return;
        slots[slot.DevFn] = null;
        RebuildIndexes();
        slot.Function.Upstream = null;
        RootComplex.Unregister(slot.Function);
        if (slot.Placement.BusOffset == 0) UpdateMultiFunction(slot.DevFn >> 3);
        RootComplex.InvalidateRouting();
    }

    // Header Type bit 7 says whether software must probe functions 1-7 (§7.5.1.1.9). It is a
    // property of where functions sit, so the fabric keeps it in step; VFs do not count (they are
    // found through the PF's SR-IOV capability, not by scanning).
    void UpdateMultiFunction(int device)
    {
        var fn0 = _slots[device << 3];
        if (fn0 == null) return;
        bool others = false;
        for (int f = 1; f < 8; f++)
            if (_slots[device << 3 | f] is { } s && !s.Function.IsVirtualFunction) others = true;
        fn0.Function.SetMultiFunction(others);
    }

    internal FunctionSlot?[] SlotsAt(int busOffset)
    {
        if (busOffset == 0) return _slots;
        return ExtraSlots(busOffset, create: false) ?? s_noSlots;
    }

    FunctionSlot?[]? ExtraSlots(int busOffset, bool create)
    {
        if (_extra == null)
        {
            if (!create) return null;
            _extra = new FunctionSlot?[256][];
        }
        return _extra[busOffset] ??= create ? new FunctionSlot?[256] : null;
    }

    internal bool HasFunctionsAt(int busOffset)
    {
        foreach (var s in _members) if (s.Placement.BusOffset == busOffset) return true;
        return false;
    }

    internal ReadOnlySpan<FunctionSlot> Members => _members;

    /// <summary>Members that decode memory and I/O addresses themselves: every member but SR-IOV VFs.</summary>
    internal ReadOnlySpan<FunctionSlot> Decoders => _decoders;

    /// <summary>First bridge on this bus (devfn order) whose [Secondary, Subordinate] holds <paramref name="bus"/>.</summary>
    internal FunctionSlot? FindBridgeClaiming(int bus)
    {
        foreach (var b in _bridges)
            if (b.Bridge!.ClaimsBus(bus)) return b;
        return null;
    }

    internal ReadOnlySpan<FunctionSlot> Bridges => _bridges;

    void RebuildIndexes()
    {
        var members = new List<FunctionSlot>();
        var bridges = new List<FunctionSlot>();
        var decoders = new List<FunctionSlot>();
        var pfs = new List<FunctionSlot>();
        foreach (var s in _slots)
        {
            if (s == null) continue;
            members.Add(s);
            if (s.ChildBus != null || s.Bridge != null) bridges.Add(s);
        }
        if (_extra != null)
            foreach (var arr in _extra)
                if (arr != null)
                    foreach (var s in arr) if (s != null) members.Add(s);
        foreach (var s in members)
        {
            if (s.VfOf == null) decoders.Add(s);
            if (s.Sriov != null) pfs.Add(s);
        }
        _members = [.. members];
        _bridges = [.. bridges];
        _decoders = [.. decoders];
        _sriovPfs = [.. pfs];
    }

    void OnBridgeRoutingChanged(BridgeFunction bridge)
    {
        RootComplex.InvalidateRouting();
        Renumber();
    }

    internal void Renumber()
    {
        int n = Number;
        if (n == _lastNumber) return;
        _lastNumber = n;
        foreach (var s in _members) s.UpdateBdf();
        // VFs moved with their PF; the capability's routing IDs follow and the placement is re-checked.
        foreach (var s in _sriovPfs) s.Sriov?.OnBusRenumbered();
    }

    public override string ToString() => $"bus {Number:x2} ({Kind})";
}
