using PcieVirt.Pci.Functions;
using System.Numerics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Capabilities;

namespace PcieVirt.Fabric;

/// <summary>
/// Enumerates a root complex's hierarchy the way platform firmware does, using nothing but
/// configuration requests: depth-first bus numbering, function discovery, BAR sizing, address
/// allocation from the root complex's apertures, bridge windows, Command bits. See
/// spec-notes/enumeration.md for the rules and their sources. Never throws: problems are reported
/// in <see cref="EnumerationReport.Failures"/>.
/// </summary>
public sealed class FirmwareEnumerator
{
    /// <summary>Bridge memory windows are 1 MiB granular (§7.5.1.3.8-9).</summary>
    public const ulong MemoryWindowGranularity = 0x10_0000;
    /// <summary>Bridge I/O windows are 4 KiB granular (§7.5.1.3.6).</summary>
    public const ulong IoWindowGranularity = 0x1000;

    const int PortTypeRootPort = 0x4;
    const int PortTypeDownstream = 0x6;
    const ushort SriovVfEnable = 1 << 0;
    const ushort SriovAriCapableHierarchy = 1 << 4;

    readonly RootComplex _rc;
    readonly FirmwareEnumerationOptions _options;
    readonly ILogger _log;

    // Per-run state.
    List<Node> _all = [];
    List<EnumerationFailure> _failures = [];
    int _order;

    public FirmwareEnumerator(RootComplex rootComplex, FirmwareEnumerationOptions? options = null, ILogger? logger = null)
    {
        _rc = rootComplex;
        _options = options ?? new FirmwareEnumerationOptions();
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>Runs the enumeration and returns what it found and programmed.</summary>
    public EnumerationReport Enumerate()
    {
        _all = [];
        _failures = [];
        _order = 0;
        int lastBus = _rc.StartBus;
        var root = new List<Node>();
        try
        {
            lastBus = ScanBus(_rc.StartBus, null, root);
            foreach (var n in _all) SizeResources(n);
            AllocateAndProgram(root);
            EnableDecoders();
        }
        catch (Exception ex)
        {
            // Enumeration must leave the caller with a report, never an exception (e.g. a device model fault).
            _failures.Add(new EnumerationFailure(null, $"enumeration aborted: {ex.Message}"));
            Log.EnumerationAborted(_log, ex);
        }
        var report = BuildReport(lastBus);
        Log.EnumerationDone(_log, _rc.Name, report.Functions.Count, lastBus, report.Failures.Count);
        return report;
    }

    /// <summary>
    /// Slot-level rescan after a hot-add below downstream port <paramref name="port"/> (§6.7.3; what an OS's
    /// hot-plug driver does): scans the port's secondary bus inside the bus numbers the port already
    /// holds, sizes the new functions' BARs and places them inside the memory windows the port already
    /// has (reserved at boot, see <see cref="PciePort.MemoryReserve"/>), then enables their decoders.
    /// Nothing outside the slot is written: the BARs, windows and bus numbers of every other function
    /// stay where they are. The report lists only the slot's functions.
    /// </summary>
    public EnumerationReport RescanSlot(Bdf port)
    {
        _all = [];
        _failures = [];
        _order = 0;
        int lastBus = _rc.StartBus;
        try
        {
            var holder = new List<Node>();
            var portNode = Probe(port, holder) ?? throw new InvalidOperationException($"no function at {port}");
            _all.Clear(); // the port itself is not rescanned
            if (!portNode.IsBridge) throw new InvalidOperationException($"{port} is not a bridge");
            uint buses = Rd(port, PciRegs.PrimaryBus, 4);
            int secondary = (int)(buses >> 8) & 0xFF, subordinate = (int)(buses >> 16) & 0xFF;
            if (secondary == 0 || subordinate < secondary) throw new InvalidOperationException($"{port} has no bus numbers assigned");
            portNode.Children = [];
            lastBus = ScanBus(secondary, portNode, portNode.Children);
            if (lastBus > subordinate)
                Fail(portNode, $"the slot's functions need buses up to {lastBus:x2}, beyond the port's Subordinate Bus Number {subordinate:x2}");
            foreach (var n in _all) SizeResources(n);
            var mem = new List<Res>();
            var pref = new List<Res>();
            var prefWindow = ReadPrefetchableWindow(port);
            foreach (var n in _all)
            {
                if (n.IsBridge) Fail(n, "a bridge below a hot-plug slot is not placed by a slot rescan; its resources stay unassigned");
                else
                    foreach (var r in n.Own)
                    {
                        if (r.Kind == ResourceKind.Io) Fail(n, $"{r.Register}{r.Index}: no I/O window is reserved for hot-plug; left unassigned");
                        else (r.Kind == ResourceKind.PrefetchableMemory && !prefWindow.IsEmpty ? pref : mem).Add(r);
                    }
            }
            PlaceInAperture($"{port} memory window", ReadMemoryWindow(port), mem);
            PlaceInAperture($"{port} prefetchable window", prefWindow, pref);
            foreach (var n in _all)
                if (!n.IsBridge) foreach (var r in n.Own) ProgramBar(r);
            EnableDecoders();
        }
        catch (Exception ex)
        {
            _failures.Add(new EnumerationFailure(null, $"slot rescan aborted: {ex.Message}"));
            Log.EnumerationAborted(_log, ex);
        }
        var report = BuildReport(lastBus);
        Log.SlotRescanned(_log, _rc.Name, port, report.Functions.Count, report.Failures.Count);
        return report;
    }

    AddressRange ReadMemoryWindow(Bdf bridge)
    {
        // Memory Base/Limit hold address bits 31:20 (§7.5.1.3.8); base above limit = window off.
        uint v = Rd(bridge, PciRegs.MemoryBase, 4);
        ulong @base = (ulong)(v & 0xFFF0) << 16, limit = (ulong)((v >> 16) & 0xFFF0) << 16 | 0xF_FFFF;
        return @base > limit ? AddressRange.None : new AddressRange(@base, limit - @base + 1);
    }

    AddressRange ReadPrefetchableWindow(Bdf bridge)
    {
        // Prefetchable Base/Limit bits 31:20 plus the Upper 32 Bits registers for a 64-bit window (§7.5.1.3.9).
        uint v = Rd(bridge, PciRegs.PrefetchableBase, 4);
        bool is64 = (v & 0xF) == 1;
        ulong baseHi = is64 ? Rd(bridge, PciRegs.PrefetchableBaseUpper, 4) : 0, limitHi = is64 ? Rd(bridge, PciRegs.PrefetchableLimitUpper, 4) : 0;
        ulong @base = baseHi << 32 | (ulong)(v & 0xFFF0) << 16;
        ulong limit = limitHi << 32 | (ulong)((v >> 16) & 0xFFF0) << 16 | 0xF_FFFF;
        return @base > limit ? AddressRange.None : new AddressRange(@base, limit - @base + 1);
    }

    // ---------------------------------------------------------------- discovery and bus numbers

    sealed class Node
    {
        public required PciAddress Address;
        public ushort VendorId, DeviceId;
        public uint ClassCode;
        public byte HeaderType;
        public bool IsBridge;
        public int PcieCap;
        public int PortType = -1;
        public int SriovCap;
        public int TotalVfs;
        public byte Primary, Secondary, Subordinate;
        public List<Node>? Children;
        public readonly List<Res> Own = [];
        public Res? IoWindow, MemWindow, PrefWindow;
        public bool Pref64 = true;
        public Bdf Bdf => Address.Bdf;
    }

    sealed class Res
    {
        public required Node Owner;
        public BarRegister Register;
        public int Index;
        public int Offset;
        public ResourceKind Kind;
        public bool Is64, Prefetchable;
        public ulong Size, Align;
        public ulong Rel, Base;
        public bool Assigned;
        public int Order;
        public List<Res>? Children; // non-null for a bridge window
    }

    uint Rd(Bdf bdf, int offset, int width)
    {
        _rc.Read(new PciAddress(_rc.Segment, bdf), offset, width, out uint v);
        return v;
    }

    void Wr(Bdf bdf, int offset, int width, uint value) =>
        _rc.Write(new PciAddress(_rc.Segment, bdf), offset, width, value);

    void Fail(Node? node, string message)
    {
        _failures.Add(new EnumerationFailure(node?.Address, message));
        Log.EnumerationFailure(_log, node?.Address.ToString() ?? _rc.Name, message);
    }

    /// <summary>Scans one bus, numbers the bridges on it depth-first, returns the highest bus number used.</summary>
    int ScanBus(int bus, Node? bridgeAbove, List<Node> found)
    {
        // Below a PCIe downstream port the link holds one device: only Device 0 is scanned (§7.3.1);
        // with ARI the device's functions are found through the ARI Next Function Number chain (§7.8.7).
        bool link = bridgeAbove != null && bridgeAbove.PortType is PortTypeRootPort or PortTypeDownstream;
        bool ari = link && ConfigureAri(bridgeAbove!, bus);
        if (ari) ScanAriDevice(bus, found);
        else for (int dev = 0; dev < (link ? 1 : 32); dev++) ScanDevice(bus, dev, found);

        // Clear stale bus numbers so that no bridge on this bus claims buses while its siblings are numbered.
        foreach (var n in found)
            if (n.IsBridge) WriteBusNumbers(n.Bdf, 0, 0, 0);

        int max = bus;
        bool firstPf = true;
        foreach (var n in found)
        {
            if (n.IsBridge || n.SriovCap == 0) continue;
            max = Math.Max(max, LastVfBus(n, ari && firstPf));
            firstPf = false;
        }
        if (max > _rc.EndBus)
        {
            Fail(null, $"bus {bus:x2}: VFs would need buses up to {max:x2}, beyond the root complex's last bus {_rc.EndBus:x2}");
            max = _rc.EndBus;
        }

        foreach (var n in found)
            if (n.IsBridge) max = NumberBridge(n, bus, max);
        return max;
    }

    int NumberBridge(Node bridge, int bus, int max)
    {
        bridge.Children = [];
        int secondary = max + 1;
        if (secondary > _rc.EndBus)
        {
            Fail(bridge, $"no bus number left for the bridge's secondary bus (last bus is {_rc.EndBus:x2})");
            WriteBusNumbers(bridge.Bdf, (byte)bus, 0, 0);
            bridge.Primary = (byte)bus;
            return max;
        }
        // Subordinate 0xFF while scanning below, so every bus number that may follow is forwarded (§7.5.1.3.4).
        WriteBusNumbers(bridge.Bdf, (byte)bus, (byte)secondary, 0xFF);
        int below = ScanBus(secondary, bridge, bridge.Children);
        int reserve = _rc.FindPort(bridge.Bdf)?.BusReserve ?? 0;
        int subordinate = Math.Max(below, secondary + reserve);
        if (subordinate > _rc.EndBus)
        {
            Fail(bridge, $"bus reserve of {reserve} does not fit below bus {_rc.EndBus:x2}; reserved up to the last bus");
            subordinate = _rc.EndBus;
        }
        Wr(bridge.Bdf, PciRegs.SubordinateBus, 1, (uint)subordinate);
        bridge.Primary = (byte)bus;
        bridge.Secondary = (byte)secondary;
        bridge.Subordinate = (byte)subordinate;
        return subordinate;
    }

    void WriteBusNumbers(Bdf bridge, byte primary, byte secondary, byte subordinate)
    {
        // Read-modify-write keeps the Secondary Latency Timer byte as it is.
        uint v = Rd(bridge, PciRegs.PrimaryBus, 4);
        Wr(bridge, PciRegs.PrimaryBus, 4, (v & 0xFF00_0000) | (uint)subordinate << 16 | (uint)secondary << 8 | primary);
    }

    void ScanDevice(int bus, int device, List<Node> found)
    {
        var fn0 = Probe(Bdf.FromBusDevFn(bus, device << 3), found);
        // Functions 1-7 exist only when function 0 does and says it is multi-function (§7.5.1.1.9).
        if (fn0 == null || (fn0.HeaderType & 0x80) == 0) return;
        for (int f = 1; f < 8; f++) Probe(Bdf.FromBusDevFn(bus, device << 3 | f), found);
    }

    void ScanAriDevice(int bus, List<Node> found)
    {
        var seen = new bool[256];
        int fn = 0;
        while (!seen[fn])
        {
            seen[fn] = true;
            var node = Probe(Bdf.FromBusDevFn(bus, fn), found);
            if (node == null) break;
            int ari = CapabilityWalker.FindExtendedCapability(_rc, node.Address, CapabilityIds.AlternativeRoutingId);
            int next = ari == 0 ? 0 : (int)(Rd(node.Bdf, ari + 4, 2) >> 8) & 0xFF;
            if (next == 0) break; // 0 ends the chain (function 0 is never "next")
            fn = next;
        }
    }

    /// <summary>Enables ARI Forwarding in the port when it supports it and the device below has ARI; returns whether it is on.</summary>
    bool ConfigureAri(Node port, int bus)
    {
        if (port.PcieCap == 0) return false;
        int devCtl2 = port.PcieCap + CapabilityWalker.PcieDeviceControl2;
        uint ctl = Rd(port.Bdf, devCtl2, 2);
        bool supported = (Rd(port.Bdf, port.PcieCap + CapabilityWalker.PcieDeviceCapabilities2, 4) & CapabilityWalker.AriForwardingBit) != 0;
        bool want = false;
        if (supported && _options.EnableAriForwarding)
        {
            var fn0 = new PciAddress(_rc.Segment, Bdf.FromBusDevFn(bus, 0));
            want = Present(fn0) && CapabilityWalker.FindExtendedCapability(_rc, fn0, CapabilityIds.AlternativeRoutingId) != 0;
        }
        bool on = (ctl & CapabilityWalker.AriForwardingBit) != 0;
        if (supported && want != on)
            Wr(port.Bdf, devCtl2, 2, want ? ctl | CapabilityWalker.AriForwardingBit : ctl & ~(uint)CapabilityWalker.AriForwardingBit);
        return want;
    }

    bool Present(PciAddress a)
    {
        var st = _rc.Read(a, PciRegs.VendorId, 2, out uint vendor);
        return st == CompletionStatus.SuccessfulCompletion && vendor is not (0xFFFF or 0x0000);
    }

    Node? Probe(Bdf bdf, List<Node> found)
    {
        var address = new PciAddress(_rc.Segment, bdf);
        // A function that does not exist completes UR and reads all ones (§7.5.1.1.1).
        if (_rc.Read(address, PciRegs.VendorId, 4, out uint id) != CompletionStatus.SuccessfulCompletion) return null;
        ushort vendor = (ushort)id;
        if (vendor is 0xFFFF or 0x0000) return null;
        byte headerType = (byte)Rd(bdf, PciRegs.HeaderType, 1);
        var node = new Node
        {
            Address = address,
            VendorId = vendor,
            DeviceId = (ushort)(id >> 16),
            ClassCode = Rd(bdf, PciRegs.RevisionId, 4) >> 8,
            HeaderType = headerType,
            IsBridge = (headerType & 0x7F) == 1,
        };
        if ((headerType & 0x7F) > 1)
        {
            Fail(node, $"header layout {headerType & 0x7F} is not supported; function ignored");
            return null;
        }
        node.PcieCap = CapabilityWalker.FindCapability(_rc, address, CapabilityIds.PciExpress);
        if (node.PcieCap != 0) node.PortType = (int)(Rd(bdf, node.PcieCap + CapabilityWalker.PcieCapabilitiesRegister, 2) >> 4) & 0xF;
        if (!node.IsBridge) node.SriovCap = CapabilityWalker.FindExtendedCapability(_rc, address, CapabilityIds.SingleRootIov);
        else node.Pref64 = (Rd(bdf, PciRegs.PrefetchableBase, 2) & 0xF) == 1;
        found.Add(node);
        _all.Add(node);
        Log.EnumerationFound(_log, address, vendor, node.DeviceId, node.ClassCode, node.IsBridge);
        return node;
    }

    /// <summary>
    /// The highest bus number a PF's VFs can occupy: NumVFs is set to each value from TotalVFs down
    /// to 1 and First VF Offset / VF Stride read back (they may depend on NumVFs), then NumVFs = 0.
    /// </summary>
    int LastVfBus(Node pf, bool ariCapableHierarchy)
    {
        int cap = pf.SriovCap;
        var bdf = pf.Bdf;
        int total = (int)Rd(bdf, cap + 0x0E, 2);
        pf.TotalVfs = total;
        if (total == 0) return bdf.Bus;
        uint ctl = Rd(bdf, cap + 0x08, 2);
        if ((ctl & SriovVfEnable) != 0)
        {
            Fail(pf, "VF Enable is already set; bus numbers for VFs reserved for the current NumVFs only");
            return VfBus(pf, cap, (int)Rd(bdf, cap + 0x10, 2)) ?? bdf.Bus;
        }
        // ARI Capable Hierarchy (lowest PF only) changes where VFs go, so it is set before reading offsets.
        uint wantCtl = ariCapableHierarchy ? ctl | SriovAriCapableHierarchy : ctl & ~(uint)SriovAriCapableHierarchy;
        if (wantCtl != ctl) Wr(bdf, cap + 0x08, 2, wantCtl);
        int max = bdf.Bus;
        for (int n = total; n >= 1; n--)
        {
            Wr(bdf, cap + 0x10, 2, (uint)n);
            int? bus = VfBus(pf, cap, n);
            if (bus == null) break;
            max = Math.Max(max, bus.Value);
        }
        Wr(bdf, cap + 0x10, 2, 0);
        return max;
    }

    int? VfBus(Node pf, int cap, int numVfs)
    {
        if (numVfs == 0) return pf.Bdf.Bus;
        int offset = (int)Rd(pf.Bdf, cap + 0x14, 2);
        int stride = (int)Rd(pf.Bdf, cap + 0x16, 2);
        if (offset == 0 || (numVfs > 1 && stride == 0))
        {
            Fail(pf, $"SR-IOV First VF Offset {offset} / VF Stride {stride} are invalid for NumVFs {numVfs}");
            return null;
        }
        // VF n's routing ID = PF routing ID + First VF Offset + (n - 1) * VF Stride.
        int last = pf.Bdf.Value + offset + (numVfs - 1) * stride;
        if (last > 0xFFFF)
        {
            Fail(pf, $"VF routing IDs for NumVFs {numVfs} run past bus ff");
            return null;
        }
        return last >> 8;
    }

    // ---------------------------------------------------------------- sizing

    void SizeResources(Node n)
    {
        var bdf = n.Bdf;
        // Decoding is off while BARs hold all ones, so the probe value never decodes anything (§7.5.1.2.1).
        uint cmd = Rd(bdf, PciRegs.Command, 2);
        Wr(bdf, PciRegs.Command, 2, cmd & ~(uint)(PciCommand.IoSpace | PciCommand.MemorySpace));

        int count = n.IsBridge ? 2 : 6;
        for (int i = 0; i < count; i++)
            i += SizeBar(n, BarRegister.Bar, i, PciRegs.Bar0 + 4 * i, count, 1);
        SizeRom(n);
        if (n.SriovCap != 0 && n.TotalVfs > 0)
        {
            int cap = n.SriovCap;
            // VF BARs are sized in units of the System Page Size; use 4 KiB when supported, as Linux does.
            if ((Rd(bdf, cap + 0x1C, 4) & 1) != 0) Wr(bdf, cap + 0x20, 4, 1);
            for (int i = 0; i < 6; i++)
                i += SizeBar(n, BarRegister.VfBar, i, cap + 0x24 + 4 * i, 6, (ulong)n.TotalVfs);
        }
        Wr(bdf, PciRegs.Command, 2, cmd);
    }

    /// <summary>Sizes one BAR by writing all ones and reading back; returns 1 when it consumed the next register (64-bit).</summary>
    int SizeBar(Node n, BarRegister register, int index, int offset, int count, ulong multiplier)
    {
        var bdf = n.Bdf;
        uint orig = Rd(bdf, offset, 4);
        Wr(bdf, offset, 4, 0xFFFF_FFFF);
        uint probe = Rd(bdf, offset, 4);
        Wr(bdf, offset, 4, orig);
        if (probe == 0) return 0; // not implemented
        var res = new Res { Owner = n, Register = register, Index = index, Offset = offset, Order = _order++ };
        int consumed = 0;
        ulong mask;
        if ((probe & 1) != 0)
        {
            res.Kind = ResourceKind.Io;
            mask = probe & ~3u;
            if ((mask & 0xFFFF_0000) == 0) mask |= 0xFFFF_0000; // a 16-bit I/O decoder
            mask |= 0xFFFF_FFFF_0000_0000;
        }
        else
        {
            uint type = (probe >> 1) & 3;
            res.Prefetchable = (probe & 8) != 0;
            if (type == 2)
            {
                if (index + 1 >= count)
                {
                    Fail(n, $"{register}{index} claims 64 bits but is the last register");
                    return 0;
                }
                uint origHi = Rd(bdf, offset + 4, 4);
                Wr(bdf, offset + 4, 4, 0xFFFF_FFFF);
                uint hi = Rd(bdf, offset + 4, 4);
                Wr(bdf, offset + 4, 4, origHi);
                mask = (ulong)hi << 32 | (probe & ~0xFu);
                res.Is64 = true;
                consumed = 1;
            }
            else if (type == 0)
            {
                mask = 0xFFFF_FFFF_0000_0000 | (probe & ~0xFu);
            }
            else
            {
                Fail(n, $"{register}{index} has reserved memory type {type}; not allocated");
                return 0;
            }
            // 64-bit prefetchable BARs may live above 4 GiB behind the prefetchable windows; everything
            // else must stay below 4 GiB, where only the memory window (or a 32-bit one) reaches.
            res.Kind = res.Is64 && res.Prefetchable ? ResourceKind.PrefetchableMemory : ResourceKind.Memory;
        }
        ulong size = ~mask + 1;
        if (size == 0 || !BitOperations.IsPow2(size))
        {
            Fail(n, $"{register}{index} reads back 0x{probe:x8}, not a valid size mask; not allocated");
            return consumed;
        }
        res.Align = size;
        res.Size = size * multiplier;
        n.Own.Add(res);
        return consumed;
    }

    void SizeRom(Node n)
    {
        var bdf = n.Bdf;
        int offset = n.IsBridge ? PciRegs.ExpansionRomType1 : PciRegs.ExpansionRomType0;
        uint orig = Rd(bdf, offset, 4);
        Wr(bdf, offset, 4, 0xFFFF_F800); // address bits only; ROM Enable (bit 0) stays clear
        uint probe = Rd(bdf, offset, 4) & 0xFFFF_F800;
        Wr(bdf, offset, 4, orig);
        if (probe == 0) return;
        ulong size = (~probe + 1) & 0xFFFF_FFFF;
        if (!BitOperations.IsPow2(size))
        {
            Fail(n, $"Expansion ROM reads back 0x{probe:x8}, not a valid size mask; not allocated");
            return;
        }
        n.Own.Add(new Res
        {
            Owner = n, Register = BarRegister.ExpansionRom, Offset = offset, Kind = ResourceKind.Memory,
            Size = size, Align = size, Order = _order++,
        });
    }

    // ---------------------------------------------------------------- allocation

    void AllocateAndProgram(List<Node> root)
    {
        bool pref64 = !_rc.Mmio64.IsEmpty;
        foreach (var n in _all) if (n.IsBridge && !n.Pref64) pref64 = false;

        var rootItems = new List<Res>();
        foreach (var n in root)
        {
            rootItems.AddRange(n.Own);
            if (n.IsBridge) AddWindows(n, rootItems);
        }
        var io = new List<Res>();
        var mem32 = new List<Res>();
        var mem64 = new List<Res>();
        foreach (var r in rootItems)
        {
            if (r.Kind == ResourceKind.Io) io.Add(r);
            else if (r.Kind == ResourceKind.PrefetchableMemory && pref64) mem64.Add(r);
            else mem32.Add(r);
        }
        PlaceInAperture("I/O", _rc.Io, io);
        PlaceInAperture("32-bit MMIO", _rc.Mmio32, mem32);
        PlaceInAperture("64-bit MMIO", _rc.Mmio64, mem64);

        foreach (var n in _all)
        {
            foreach (var r in n.Own) ProgramBar(r);
            if (n.IsBridge) ProgramWindows(n);
        }
    }

    /// <summary>Computes the bridge's windows from what is below it (post-order) and adds them to <paramref name="parentItems"/>.</summary>
    void AddWindows(Node bridge, List<Res> parentItems)
    {
        var io = new List<Res>();
        var mem = new List<Res>();
        var pref = new List<Res>();
        foreach (var c in bridge.Children ?? [])
        {
            var items = new List<Res>(c.Own);
            if (c.IsBridge) AddWindows(c, items);
            foreach (var r in items)
                (r.Kind switch { ResourceKind.Io => io, ResourceKind.Memory => mem, _ => pref }).Add(r);
        }
        var port = _rc.FindPort(bridge.Bdf);
        bridge.IoWindow = Pack(bridge, ResourceKind.Io, io, IoWindowGranularity);
        bridge.MemWindow = Reserve(bridge, ResourceKind.Memory, Pack(bridge, ResourceKind.Memory, mem, MemoryWindowGranularity), port?.MemoryReserve ?? 0);
        bridge.PrefWindow = Reserve(bridge, ResourceKind.PrefetchableMemory,
            Pack(bridge, ResourceKind.PrefetchableMemory, pref, MemoryWindowGranularity), port?.PrefetchableReserve ?? 0);
        if (bridge.IoWindow != null) parentItems.Add(bridge.IoWindow);
        if (bridge.MemWindow != null) parentItems.Add(bridge.MemWindow);
        if (bridge.PrefWindow != null) parentItems.Add(bridge.PrefWindow);
    }

    /// <summary>
    /// Lays children out inside a window, largest alignment first so each lands naturally aligned
    /// relative to the window base; the window is rounded up to its granularity and aligned to the
    /// largest child alignment (at least the granularity).
    /// </summary>
    Res? Pack(Node bridge, ResourceKind kind, List<Res> items, ulong granularity)
    {
        if (items.Count == 0) return null;
        SortForPlacement(items);
        ulong cursor = 0;
        foreach (var r in items)
        {
            ulong at = AlignUp(cursor, r.Align);
            if (at < cursor || at + r.Size < at)
            {
                Fail(bridge, $"{kind} resources below the bridge overflow the address space");
                return null;
            }
            r.Rel = at;
            cursor = at + r.Size;
        }
        ulong size = AlignUp(cursor, granularity);
        if (size < cursor)
        {
            Fail(bridge, $"{kind} resources below the bridge overflow the address space");
            return null;
        }
        return new Res
        {
            Owner = bridge, Kind = kind, Size = size, Align = Math.Max(granularity, items[0].Align),
            Children = items, Order = _order++,
        };
    }

    /// <summary>
    /// Grows (or creates) a hot-plug port's window to at least <paramref name="reserve"/> bytes, so a device
    /// added later fits without moving anything else (what Linux's hpmemsize / hpmmioprefsize do).
    /// </summary>
    Res? Reserve(Node bridge, ResourceKind kind, Res? packed, ulong reserve)
    {
        if (reserve == 0) return packed;
        ulong size = AlignUp(reserve, MemoryWindowGranularity);
        if (packed != null)
        {
            packed.Size = Math.Max(packed.Size, size);
            return packed;
        }
        return new Res { Owner = bridge, Kind = kind, Size = size, Align = MemoryWindowGranularity, Children = [], Order = _order++ };
    }

    static void SortForPlacement(List<Res> items) =>
        items.Sort(static (a, b) =>
            a.Align != b.Align ? b.Align.CompareTo(a.Align)
            : a.Size != b.Size ? b.Size.CompareTo(a.Size)
            : a.Order.CompareTo(b.Order));

    void PlaceInAperture(string name, AddressRange aperture, List<Res> items)
    {
        SortForPlacement(items);
        ulong cursor = aperture.Base;
        foreach (var r in items)
        {
            ulong at = AlignUp(cursor, r.Align);
            bool fits = !aperture.IsEmpty && at >= cursor && at + r.Size - 1 >= at && at + r.Size - 1 <= aperture.Limit;
            if (!fits)
            {
                string what = r.Children != null ? $"{r.Kind} window" : $"{r.Register}{(r.Register == BarRegister.ExpansionRom ? "" : r.Index)}";
                Fail(r.Owner, aperture.IsEmpty
                    ? $"{what} (0x{r.Size:x} bytes) needs the {name} aperture, which this root complex does not have"
                    : $"{name} aperture {aperture} too small for {what} of 0x{r.Size:x} bytes aligned to 0x{r.Align:x}; left unassigned");
                continue;
            }
            Place(r, at);
            cursor = at + r.Size;
        }
    }

    static void Place(Res r, ulong at)
    {
        r.Base = at;
        r.Assigned = true;
        if (r.Children != null)
            foreach (var c in r.Children) Place(c, at + c.Rel);
    }

    static ulong AlignUp(ulong value, ulong align) => (value + align - 1) & ~(align - 1);

    void ProgramBar(Res r)
    {
        var bdf = r.Owner.Bdf;
        ulong at = r.Assigned ? r.Base : 0;
        // Type bits are read-only, so writing the address alone leaves them intact.
        Wr(bdf, r.Offset, 4, (uint)at);
        if (r.Is64) Wr(bdf, r.Offset + 4, 4, (uint)(at >> 32));
    }

    void ProgramWindows(Node b)
    {
        // A window is off when its base is above its limit (§7.5.1.3.6-9).
        Program(b.Bdf, b.IoWindow is { Assigned: true } io ? WindowRegisters.Io(io.Base, io.Base + io.Size - 1) : WindowRegisters.Io(1, 0));
        Program(b.Bdf, b.MemWindow is { Assigned: true } mem ? WindowRegisters.Memory(mem.Base, mem.Base + mem.Size - 1) : WindowRegisters.Memory(1, 0));
        Program(b.Bdf, b.PrefWindow is { Assigned: true } pref
            ? WindowRegisters.Prefetchable(pref.Base, pref.Base + pref.Size - 1) : WindowRegisters.Prefetchable(1, 0));
    }

    void Program(Bdf bdf, WindowRegisters w)
    {
        foreach (var r in w.Writes) Wr(bdf, r.Offset, r.Width, r.Value);
    }

    // ---------------------------------------------------------------- command bits

    void EnableDecoders()
    {
        foreach (var n in _all)
        {
            // A function with a header BAR left unassigned keeps that space's decoding off: the
            // BAR would otherwise decode at address 0.
            bool mem = !AnyBar(n, ResourceKind.Memory, assigned: false)
                && (AnyBar(n, ResourceKind.Memory, assigned: true) || n.MemWindow is { Assigned: true } || n.PrefWindow is { Assigned: true });
            bool io = !AnyBar(n, ResourceKind.Io, assigned: false)
                && (AnyBar(n, ResourceKind.Io, assigned: true) || n.IoWindow is { Assigned: true });
            uint cmd = Rd(n.Bdf, PciRegs.Command, 2) & ~(uint)(PciCommand.IoSpace | PciCommand.MemorySpace | PciCommand.BusMaster);
            if (mem) cmd |= (uint)PciCommand.MemorySpace;
            if (io) cmd |= (uint)PciCommand.IoSpace;
            if (_options.EnableBusMaster) cmd |= (uint)PciCommand.BusMaster;
            Wr(n.Bdf, PciRegs.Command, 2, cmd);
        }
    }

    /// <summary>Whether a header BAR (not ROM, not VF BAR) of the space is assigned / unassigned.</summary>
    static bool AnyBar(Node n, ResourceKind space, bool assigned)
    {
        foreach (var r in n.Own)
        {
            // ROM decode also needs ROM Enable, VF BARs need VF MSE: neither depends on these Command bits.
            if (r.Register != BarRegister.Bar) continue;
            bool inSpace = space == ResourceKind.Io ? r.Kind == ResourceKind.Io : r.Kind != ResourceKind.Io;
            if (inSpace && r.Assigned == assigned) return true;
        }
        return false;
    }

    // ---------------------------------------------------------------- report

    EnumerationReport BuildReport(int lastBus)
    {
        var functions = new List<EnumeratedFunction>();
        var bridges = new List<BridgeAssignment>();
        var bars = new List<BarAssignment>();
        foreach (var n in _all)
        {
            functions.Add(new EnumeratedFunction(n.Address, n.VendorId, n.DeviceId, n.ClassCode, n.HeaderType));
            if (n.IsBridge)
                bridges.Add(new BridgeAssignment(n.Address, n.Primary, n.Secondary, n.Subordinate,
                    Window(n.IoWindow), Window(n.MemWindow), Window(n.PrefWindow)));
            foreach (var r in n.Own)
                bars.Add(new BarAssignment(n.Address, r.Register, r.Index, r.Offset, r.Kind, r.Is64, r.Prefetchable,
                    r.Size, r.Align, r.Assigned ? r.Base : 0, r.Assigned));
        }
        functions.Sort((a, b) => a.Address.CompareTo(b.Address));
        bridges.Sort((a, b) => a.Address.CompareTo(b.Address));
        bars.Sort((a, b) => a.Address != b.Address ? a.Address.CompareTo(b.Address) : a.ConfigOffset.CompareTo(b.ConfigOffset));
        return new EnumerationReport(functions, bridges, bars, _failures, lastBus);
    }

    static AddressRange Window(Res? r) => r is { Assigned: true } ? new AddressRange(r.Base, r.Size) : AddressRange.None;
}
