using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Fabric;

/// <summary>
/// Where one function sits in the fabric: its bus, bus-relative placement, the bus below it when it
/// is a bridge, and cached offsets of the PCIe capability registers routing consults. It is also the
/// function's <see cref="IUpstreamPort"/>: requests the function masters start their way up here.
/// </summary>
internal sealed class FunctionSlot : IUpstreamPort
{
    public FunctionSlot(PciFunction function, PciBus bus, BusPlacement placement)
    {
        Function = function;
        Bus = bus;
        Placement = placement;
        Bridge = function as BridgeFunction;
        VfOf = (function as VirtualFunction)?.Sriov;
        int pcie = CapabilityWalker.FindCapability(function.Config, CapabilityIds.PciExpress);
        if (pcie != 0)
        {
            DeviceStatusOffset = pcie + CapabilityWalker.PcieDeviceStatus;
            AriControlOffset = pcie + CapabilityWalker.PcieDeviceControl2;
            RootControlOffset = pcie + CapabilityWalker.PcieRootControl;
            LinkControlOffset = pcie + CapabilityWalker.PcieLinkControl;
        }
        for (var b = bus; b.Kind != PciBusKind.Root; b = b.Owner!.Bus)
        {
            if (b.Kind == PciBusKind.SwitchInternal) SwitchOnPath = true;
            _pathLength++;
        }
    }

    /// <summary>
    /// True when requests this function masters cross a switch's internal bus on their way up, where a peer
    /// port may claim them. A slot never moves, so this is fixed.
    /// </summary>
    public bool SwitchOnPath { get; }

    // The upstream path without a switch: the function and the bridges above it, their config versions
    // when last looked at, and the memory and prefetchable windows of each bridge then.
    readonly int _pathLength;
    int _pathGeneration; // routing generation the cache was built in; 0 = never
    bool _pathClear;
    ConfigSpace[]? _pathConfigs;
    ulong[]? _pathVersions;
    ulong[]? _pathWindows; // base, limit pairs: memory and prefetchable window of each bridge

    /// <summary>
    /// True when a memory request this function masters at <paramref name="address"/> passes every check of the
    /// way up to the root complex (§7.5.1.1.3): the function's and every bridge's Bus Master Enable are set, no
    /// bridge window holds the address, no switch peer can claim it. Answered from a cache validated against
    /// the routing <paramref name="generation"/> and the <see cref="ConfigSpace.Version"/> of every config
    /// space involved, so it equals a live walk; false means "walk it" (the walk reports the error).
    /// </summary>
    public bool IsUpstreamPathClear(int generation, ulong address)
    {
        if (SwitchOnPath) return false;
        if (_pathGeneration != generation || !PathVersionsCurrent()) RebuildPath(generation);
        if (!_pathClear) return false;
        var w = _pathWindows!;
        for (int i = 0; i < w.Length; i += 2)
            if (address >= w[i] && address <= w[i + 1]) return false;
        return true;
    }

    bool PathVersionsCurrent()
    {
        var c = _pathConfigs!;
        var v = _pathVersions!;
        for (int i = 0; i < c.Length; i++)
            if (c[i].Version != v[i]) return false;
        return true;
    }

    void RebuildPath(int generation)
    {
        _pathConfigs ??= new ConfigSpace[_pathLength + 1];
        _pathVersions ??= new ulong[_pathLength + 1];
        _pathWindows ??= new ulong[4 * _pathLength];
        _pathConfigs[0] = Function.Config;
        _pathVersions[0] = Function.Config.Version;
        bool clear = Function.BusMasterEnabled;
        int i = 1;
        for (var b = Bus; b.Kind != PciBusKind.Root; b = b.Owner!.Bus, i++)
        {
            var bridge = b.Owner!.Bridge!;
            _pathConfigs[i] = bridge.Config;
            _pathVersions[i] = bridge.Config.Version;
            clear &= bridge.BusMasterEnabled;
            var m = bridge.MemoryWindow;
            var p = bridge.PrefetchableWindow;
            int w = 4 * (i - 1);
            _pathWindows[w] = m.Base;
            _pathWindows[w + 1] = m.Limit;
            _pathWindows[w + 2] = p.Base;
            _pathWindows[w + 3] = p.Limit;
        }
        _pathClear = clear;
        _pathGeneration = generation;
    }

    public PciFunction Function { get; }
    public BridgeFunction? Bridge { get; }
    public PciBus Bus { get; }
    public BusPlacement Placement { get; }
    public byte DevFn => (byte)Placement.DevFn;

    /// <summary>The bus on this bridge's secondary side (null for endpoints).</summary>
    public PciBus? ChildBus { get; set; }
    /// <summary>Topology object for root ports and switch downstream ports.</summary>
    public PciePort? Port { get; set; }

    /// <summary>For an SR-IOV VF: its PF's SR-IOV capability (settle time, VF MSE); null for every other function.</summary>
    public SriovCapability? VfOf { get; }
    /// <summary>
    /// Virtual time from which the function completes configuration requests: for a VF, its PF's VF Enable
    /// time plus the settle time (§9.3.3.3.1); 0 (always ready) for every other function.
    /// </summary>
    public ulong ConfigReadyAtNs { get; set; }

    /// <summary>For an SR-IOV PF attached to the fabric: what places its VFs.</summary>
    public SriovAttachment? Sriov { get; set; }

    /// <summary>Offset of Root Control (CRS Software Visibility Enable), or -1 without a PCIe capability.</summary>
    public int RootControlOffset { get; } = -1;

    /// <summary>
    /// CRS Software Visibility Enable in a root port's Root Control (§7.5.3.12), read live; false for
    /// functions that are not root ports with that bit.
    /// </summary>
    public bool CrsSoftwareVisibilityEnabled =>
        RootControlOffset >= 0 && Bridge?.PortKind == BridgePortKind.RootPort
        && (Function.Config.Bytes[RootControlOffset] & CapabilityWalker.CrsSoftwareVisibilityBit) != 0;

    /// <summary>Offset of Link Control (Link Disable), or -1 without a PCIe capability.</summary>
    public int LinkControlOffset { get; } = -1;

    /// <summary>
    /// A downstream-facing port whose Link Disable is set (§7.5.3.7): nothing crosses its link, so
    /// requests for the hierarchy below complete UR at this port (§2.9.1). Read live.
    /// </summary>
    public bool LinkDisabled =>
        LinkControlOffset >= 0 && Bridge is { PortKind: BridgePortKind.RootPort or BridgePortKind.SwitchDownstreamPort }
        && (Function.Config.Bytes[LinkControlOffset] & CapabilityWalker.LinkDisableBit) != 0;

    /// <summary>Offset of Device Control 2 (ARI Forwarding Enable), or -1 without a PCIe capability.</summary>
    public int AriControlOffset { get; } = -1;
    /// <summary>Offset of Device Status (Unsupported Request Detected), or -1 without a PCIe capability.</summary>
    public int DeviceStatusOffset { get; } = -1;

    /// <summary>ARI Forwarding Enable in Device Control 2 (§7.5.3.16), read live.</summary>
    public bool AriForwardingEnabled =>
        AriControlOffset >= 0 && (Function.Config.Bytes[AriControlOffset] & CapabilityWalker.AriForwardingBit) != 0;

    /// <summary>Sets Unsupported Request Detected (§7.5.3.5) when this function detected a UR.</summary>
    public void NoteUnsupportedRequest()
    {
        if (DeviceStatusOffset >= 0)
            Function.Config.SetBits(DeviceStatusOffset, 2, CapabilityWalker.UnsupportedRequestDetected, true);
    }

    /// <summary>Recomputes the routing ID from the bus number the bridge above is programmed with.</summary>
    public void UpdateBdf() =>
        Function.Bdf = Bdf.FromBusDevFn((Bus.Number + Placement.BusOffset) & 0xFF, Placement.DevFn);

    public bool MemoryWrite(Bdf requester, ulong address, ReadOnlySpan<byte> data)
    {
        Bus.Tap?.Upstream(write: true, requester, address, data.Length);
        return Bus.RootComplex.UpstreamMemoryWrite(this, requester, address, data);
    }

    public bool MemoryRead(Bdf requester, ulong address, Span<byte> data)
    {
        Bus.Tap?.Upstream(write: false, requester, address, data.Length);
        return Bus.RootComplex.UpstreamMemoryRead(this, requester, address, data);
    }

    public ulong StallNs => Bus.RootComplex.DmaStallNs;

    public DmaMapStatus MapForWrite(Bdf requester, ulong address, int length, out Span<byte> memory)
    {
        Bus.Tap?.Upstream(write: true, requester, address, length);
        return Bus.RootComplex.UpstreamMapForWrite(this, requester, address, length, out memory);
    }

    public DmaMapStatus MapForRead(Bdf requester, ulong address, int length, out ReadOnlySpan<byte> memory)
    {
        Bus.Tap?.Upstream(write: false, requester, address, length);
        return Bus.RootComplex.UpstreamMapForRead(this, requester, address, length, out memory);
    }

    public override string ToString() => Function.ToString();
}

/// <summary>
/// A function's place on a bus: the device/function byte (the 8-bit function number under ARI) and
/// how many bus numbers above the bus's own number it sits. A non-zero offset is for functions such
/// as SR-IOV VFs whose routing IDs land on bus numbers the device consumes beyond its link's bus
/// (reached by Type 1 requests the device claims itself).
/// </summary>
public readonly record struct BusPlacement(int BusOffset, int DevFn)
{
    public BusPlacement(int devFn) : this(0, devFn) { }

    /// <summary>Placement of device <paramref name="device"/>, function <paramref name="function"/> on the bus itself.</summary>
    public static BusPlacement At(int device, int function)
    {
        if ((uint)device > 31) throw new ArgumentOutOfRangeException(nameof(device));
        if ((uint)function > 7) throw new ArgumentOutOfRangeException(nameof(function));
        return new BusPlacement(0, device << 3 | function);
    }

    internal void Validate()
    {
        if ((uint)BusOffset > 255) throw new ArgumentOutOfRangeException(nameof(BusOffset), "bus offset must be 0..255");
        if ((uint)DevFn > 255) throw new ArgumentOutOfRangeException(nameof(DevFn), "devfn must be 0..255");
    }
}
