using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;

namespace PcieVirt.Fabric;

// Configuration request routing (PCIe Base Spec §7.2.2 ECAM, §7.3.3 configuration request routing rules,
// §7.5.1.3.2-4 bus number registers). See spec-notes/fabric-routing.md.
public sealed partial class RootComplex
{
    /// <summary>
    /// Where a request for one bus number ends up with the bridges as currently programmed. Filled
    /// lazily per bus and discarded (by generation) whenever any bridge's routing registers change,
    /// the topology changes or a bridge is reset, so it always equals a fresh walk.
    /// </summary>
    struct ConfigRoute
    {
        public int Generation;
        /// <summary>Bus object that receives the request as Type 0 (or a multi-bus device's Type 1); null = UR on the way.</summary>
        public PciBus? Bus;
        /// <summary>Slots the devfn is looked up in (never null: an empty table when Bus is null).</summary>
        public FunctionSlot?[] Slots;
        /// <summary>The downstream port that turns the request into Type 0 on its link (Device 0 filter), if any.</summary>
        public FunctionSlot? Port;
        /// <summary>The root port the request leaves the root complex through, if any.</summary>
        public FunctionSlot? RootPort;
        /// <summary>When Bus is null: the bridge that could not route the request (null = root complex or a device).</summary>
        public FunctionSlot? Terminator;
        /// <summary>Bus number minus the link's own number when a device claims a Type 1 for its extra buses.</summary>
        public int BusOffset;
    }

    static readonly FunctionSlot?[] s_noSlots = new FunctionSlot?[256];
    readonly ConfigRoute[] _routes = new ConfigRoute[256];
    int _generation = 1;

    /// <summary>Discards cached routing decisions; called when routing registers or the topology change.</summary>
    internal void InvalidateRouting()
    {
        if (++_generation == 0)
        {
            Array.Clear(_routes);
            foreach (var e in _memoryRoutes) e.Generation = 0;
            _generation = 1;
        }
    }

    /// <summary>
    /// A host read of <paramref name="width"/> bytes at physical <paramref name="address"/> in the
    /// ECAM window (offset = bus &lt;&lt; 20 | device &lt;&lt; 15 | function &lt;&lt; 12 | register).
    /// Unclaimed requests complete UR and read all ones; accesses outside the window or not naturally
    /// aligned 1/2/4-byte accesses are rejected with UR (all ones) and logged.
    /// </summary>
    public CompletionStatus EcamRead(ulong address, int width, out uint value)
    {
        ulong off = address - _ecamWindowBase;
        int reg = (int)off & 0xFFF;
        if (off >= _ecamWindowSize || !ConfigSpace.IsValidAccess(reg, width))
        {
            value = AllOnes(width);
            return RejectEcam(address, width, write: false);
        }
        return ConfigAccess(StartBus + (int)(off >> 20), (int)(off >> 12) & 0xFF, reg, width, false, 0, out value);
    }

    /// <summary>A host write through the ECAM window; see <see cref="EcamRead"/>.</summary>
    public CompletionStatus EcamWrite(ulong address, int width, uint value)
    {
        ulong off = address - _ecamWindowBase;
        int reg = (int)off & 0xFFF;
        if (off >= _ecamWindowSize || !ConfigSpace.IsValidAccess(reg, width))
            return RejectEcam(address, width, write: true);
        return ConfigAccess(StartBus + (int)(off >> 20), (int)(off >> 12) & 0xFF, reg, width, true, value, out _);
    }

    /// <summary>The ECAM address of a register of <paramref name="bdf"/> in this root complex's window.</summary>
    public ulong EcamAddress(Bdf bdf, int offset) =>
        Options.EcamBase + ((ulong)bdf.Bus << 20 | (ulong)bdf.DevFn << 12 | (uint)(offset & 0xFFF));

    public CompletionStatus Read(PciAddress address, int offset, int width, out uint value)
    {
        int bus = address.Bdf.Bus;
        if (address.Segment != Segment || bus < StartBus || bus > EndBus || !ConfigSpace.IsValidAccess(offset, width))
        {
            value = AllOnes(width);
            Log.ConfigAccessRejected(_log, address, offset, width, "not a 1/2/4-byte aligned access to this segment's bus range");
            return CompletionStatus.UnsupportedRequest;
        }
        return ConfigAccess(bus, address.Bdf.DevFn, offset, width, false, 0, out value);
    }

    public CompletionStatus Write(PciAddress address, int offset, int width, uint value)
    {
        int bus = address.Bdf.Bus;
        if (address.Segment != Segment || bus < StartBus || bus > EndBus || !ConfigSpace.IsValidAccess(offset, width))
        {
            Log.ConfigAccessRejected(_log, address, offset, width, "not a 1/2/4-byte aligned access to this segment's bus range");
            return CompletionStatus.UnsupportedRequest;
        }
        return ConfigAccess(bus, address.Bdf.DevFn, offset, width, true, value, out _);
    }

    /// <summary>Functions that answer configuration requests as routing is currently programmed, sorted.</summary>
    public IReadOnlyList<PciAddress> Functions()
    {
        var list = new List<PciAddress>();
        for (int bus = StartBus; bus <= EndBus; bus++)
        {
            ref ConfigRoute r = ref Route(bus);
            if (r.Bus == null) continue;
            foreach (var s in r.Bus.Members)
            {
                if (s.Placement.BusOffset != r.BusOffset) continue;
                if (Delivers(ref r, s.DevFn))
                    list.Add(new PciAddress(Segment, Bdf.FromBusDevFn(bus, s.DevFn)));
            }
        }
        list.Sort();
        return list;
    }

    internal FunctionSlot? FindSlot(Bdf bdf)
    {
        if (bdf.Bus < StartBus || bdf.Bus > EndBus) return null;
        ref ConfigRoute r = ref Route(bdf.Bus);
        var s = r.Slots[bdf.DevFn];
        return s != null && Delivers(ref r, bdf.DevFn) ? s : null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    ref ConfigRoute Route(int bus)
    {
        ref ConfigRoute r = ref _routes[bus];
        if (r.Generation != _generation) ResolveConfigRoute(bus, ref r);
        return ref r;
    }

    // Device 0 filter: a downstream port converting Type 1 to Type 0 for its link must UR any device
    // number other than 0 unless ARI Forwarding Enable is set, in which case the 8 bits are the
    // function number (§7.3.1, §7.3.3, ARI §6.13).
    static bool Delivers(ref ConfigRoute r, int devFn) =>
        r.Port == null || r.BusOffset != 0 || devFn < 8 || r.Port.AriForwardingEnabled;

    CompletionStatus ConfigAccess(int bus, int devFn, int reg, int width, bool write, uint data, out uint value)
    {
        if (IsFailed)
        {
            // A failed host issues nothing; a caller still holding its accessor gets UR and all ones.
            value = write ? data : AllOnes(width);
            HostRequestsRefused++;
            return CompletionStatus.UnsupportedRequest;
        }
        ref ConfigRoute r = ref Route(bus);
        CompletionStatus status;
        var target = r.Slots[devFn];
        if (target == null || !Delivers(ref r, devFn))
        {
            value = write ? data : AllOnes(width);
            status = ConfigUnsupported(ref r, bus, devFn, reg, width, write);
        }
        else if (Clock.Now < target.ConfigReadyAtNs)
        {
            // Only VFs have a ready time (0 for every other function): one compare on the hot path.
            status = ConfigRetry(ref r, target.VfOf!, bus, devFn, reg, width, write, data, out value);
        }
        else
        {
            var config = target.Function.Config;
            try
            {
                if (write)
                {
                    config.Write(reg, width, data);
                    value = data;
                }
                else
                {
                    value = config.Read(reg, width);
                }
                status = CompletionStatus.SuccessfulCompletion;
            }
            catch (Exception ex)
            {
                // A device model fault must not escape into the host or corrupt routing: the
                // completer answers Completer Abort (§2.3.1) and the fault is logged.
                Log.ConfigDeviceFault(_log, ex, target.Function.Name, reg, width);
                value = write ? data : AllOnes(width);
                status = CompletionStatus.CompleterAbort;
            }
        }
        r.Bus?.Tap?.Config(write, Bdf.FromBusDevFn(bus, devFn), status);
        if (_tlpLog.IsEnabled(LogLevel.Trace)) TraceConfig(bus, devFn, reg, width, write, value, status);
        return status;
    }

    // A VF still initialising after VF Enable completes configuration requests with Configuration
    // Request Retry Status (§9.3.3.3.1, §2.3.1). The root complex then either hands software the special
    // Vendor ID 0001h (CRS Software Visibility enabled in the root port, read of both Vendor ID bytes),
    // or re-issues the request (§2.3.2). Virtual time cannot pass while one request is outstanding, so
    // re-issuing would never succeed: this root complex gives up at once and fails the access (all ones,
    // write dropped) with status CRS, which a host model sees and can wait on. See spec-notes/sriov.md.
    CompletionStatus ConfigRetry(ref ConfigRoute r, SriovCapability iov, int bus, int devFn, int reg, int width, bool write,
        uint data, out uint value)
    {
        bool visible = !write && reg == PciRegs.VendorId && width >= 2 && r.RootPort is { CrsSoftwareVisibilityEnabled: true };
        value = write ? data : visible ? AllOnes(width) & 0xFFFF_0001u : AllOnes(width);
        Log.ConfigRequestRetry(_log, write ? "write" : "read", Bdf.FromBusDevFn(bus, devFn), reg, width, iov.VfConfigReadyTimeNs,
            Clock.Now, visible ? "; CRS Software Visibility: Vendor ID reads 0001h" : "; failed to the host");
        return CompletionStatus.ConfigurationRequestRetry;
    }

    void TraceConfig(int bus, int devFn, int reg, int width, bool write, uint value, CompletionStatus status)
    {
        bool type0 = bus == StartBus;
        var type = write ? (type0 ? ConfigTlpType.CfgWr0 : ConfigTlpType.CfgWr1) : (type0 ? ConfigTlpType.CfgRd0 : ConfigTlpType.CfgRd1);
        var tlp = new ConfigTlp(type, RequesterId, Bdf.FromBusDevFn(bus, devFn), reg, width, value, status);
        Log.ConfigTlp(_tlpLog, tlp.Type, tlp.RequesterId, tlp.Target, tlp.Register, tlp.FirstByteEnables, tlp.Data,
            ConfigTlp.StatusName(tlp.Status));
    }

    // The request found no completer. Who detected that decides which status bits record it (see
    // spec-notes/fabric-routing.md): the detecting port or switch sets Unsupported Request Detected
    // (§7.5.3.5); a root port that sent the request onto its link and received the UR completion
    // back sets Received Master Abort in its Secondary Status (§7.5.1.3.7).
    CompletionStatus ConfigUnsupported(ref ConfigRoute r, int bus, int devFn, int reg, int width, bool write)
    {
        FunctionSlot? detector;
        string reason;
        var routedBus = r.Bus;
        if (routedBus == null)
        {
            detector = r.Terminator;
            reason = r.RootPort == null ? "no root port forwards this bus number" : "no bridge below forwards this bus number";
        }
        else if (!Delivers(ref r, devFn))
        {
            detector = r.Port;
            reason = "device number is not 0 below a downstream port and ARI Forwarding is disabled";
        }
        else
        {
            detector = routedBus.Kind switch
            {
                PciBusKind.Root => null,                                                   // the root complex itself
                PciBusKind.SwitchInternal => routedBus.Owner,                              // the switch (upstream port)
                _ => routedBus.HasFunctionsAt(0) || r.BusOffset != 0 ? null : routedBus.Owner, // the device, or the port of an empty link
            };
            reason = "no function at this address";
        }
        detector?.NoteUnsupportedRequest();
        if (r.RootPort != null && detector != r.RootPort)
            r.RootPort.Function.Config.SetBits(PciRegs.SecondaryStatus, 2, (uint)PciStatus.ReceivedMasterAbort, true);
        Log.ConfigUnsupportedRequest(_log, write ? "write" : "read", Bdf.FromBusDevFn(bus, devFn), reg, width, reason);
        return CompletionStatus.UnsupportedRequest;
    }

    CompletionStatus RejectEcam(ulong address, int width, bool write)
    {
        Log.EcamAccessRejected(_log, write ? "write" : "read", address, width,
            EcamWindow.Contains(address) ? "not a naturally aligned 1, 2 or 4 byte access" : "outside the ECAM window");
        return CompletionStatus.UnsupportedRequest;
    }

    void ResolveConfigRoute(int bus, ref ConfigRoute r)
    {
        r = default;
        r.Generation = _generation;
        r.Slots = s_noSlots;
        if (bus == StartBus)
        {
            // Type 0 on the root bus: every device number is decoded by the root complex.
            r.Bus = RootBus;
            r.Slots = RootBus.SlotsAt(0);
            return;
        }
        if (bus < StartBus || bus > EndBus) return;
        var current = RootBus;
        while (true)
        {
            // Type 1: forwarded by the bridge whose [Secondary, Subordinate] holds the bus (§7.3.3).
            var claim = current.FindBridgeClaiming(bus);
            if (claim == null)
            {
                int offset = bus - current.Number;
                if (current.Kind == PciBusKind.Link && offset > 0 && current.HasFunctionsAt(offset))
                {
                    // A device that owns more bus numbers than its link's (SR-IOV VFs) claims these Type 1s.
                    r.Bus = current;
                    r.BusOffset = offset;
                    r.Slots = current.SlotsAt(offset);
                    return;
                }
                r.Terminator = current.Kind switch
                {
                    PciBusKind.Root => null,
                    PciBusKind.Link => current.HasFunctionsAt(0) ? null : current.Owner,
                    _ => current.Owner,
                };
                return;
            }
            if (current.Kind == PciBusKind.Root) r.RootPort = claim;
            var child = claim.ChildBus!;
            if (claim.LinkDisabled)
            {
                // A disabled link carries nothing: the port itself completes the request UR (§2.9.1).
                r.Terminator = claim;
                return;
            }
            if (bus == child.Number)
            {
                // The bridge whose Secondary Bus Number matches turns the request into Type 0.
                r.Bus = child;
                r.Slots = child.SlotsAt(0);
                r.Port = child.Kind == PciBusKind.Link ? claim : null;
                return;
            }
            current = child;
        }
    }

    static uint AllOnes(int width) => width >= 4 ? 0xFFFF_FFFFu : (1u << (8 * width)) - 1;
}
