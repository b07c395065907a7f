using Microsoft.Extensions.Logging;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Fabric;

// Address routing of memory and I/O requests (PCIe Base Spec §2.2.4.1 address-based routing,
// §7.5.1.1.3 Command register, §7.5.1.3.6-9 bridge windows). See spec-notes/fabric-routing.md.
public sealed partial class RootComplex
{
    const int MaxPayload = 4096;

    /// <summary>
    /// A memory read the host CPU issues at physical <paramref name="address"/> inside a host MMIO
    /// aperture: routed down through bridges with Memory Space Enable whose memory or prefetchable
    /// window holds the address to the function whose enabled BAR decodes it. Unclaimed: UR, all ones.
    /// </summary>
    public CompletionStatus MemoryRead(ulong address, Span<byte> data) =>
        HostAccess(address, data, default, io: false, write: false);

    /// <summary>A memory write from the host CPU; unclaimed writes are dropped (UR logged).</summary>
    public CompletionStatus MemoryWrite(ulong address, ReadOnlySpan<byte> data) =>
        HostAccess(address, default, data, io: false, write: true);

    /// <summary>An I/O read from the host CPU, routed by I/O windows and I/O Space Enable.</summary>
    public CompletionStatus IoRead(ulong port, Span<byte> data) =>
        HostAccess(port, data, default, io: true, write: false);

    /// <summary>An I/O write from the host CPU.</summary>
    public CompletionStatus IoWrite(ulong port, ReadOnlySpan<byte> data) =>
        HostAccess(port, default, data, io: true, write: true);

    CompletionStatus HostAccess(ulong address, Span<byte> readData, ReadOnlySpan<byte> writeData, bool io, bool write)
    {
        int length = write ? writeData.Length : readData.Length;
        CompletionStatus status;
        FunctionSlot? target = null;
        if (IsFailed)
        {
            HostRequestsRefused++;
            status = CompletionStatus.UnsupportedRequest;
        }
        else if (!IsWellFormed(address, length) || !(io ? Io.Contains(address, (ulong)length)
                : Mmio32.Contains(address, (ulong)length) || Mmio64.Contains(address, (ulong)length)))
        {
            // Not something this root complex forwards to PCI: it never becomes a TLP.
            Log.HostAccessRejected(_log, io ? "I/O" : "memory", address, length, "outside the root complex's apertures or malformed");
            status = CompletionStatus.UnsupportedRequest;
        }
        else
        {
            int bar;
            ulong offset;
            FunctionSlot? rootPort, detector;
            if (io) target = RouteDown(RootBus, address, io, out bar, out offset, out rootPort, out detector);
            else target = RouteMemoryDown(address, out bar, out offset, out rootPort, out detector);
            if (target == null)
            {
                NoteDownstreamUr(rootPort, detector);
                Log.AddressUnsupportedRequest(_log, io ? "I/O" : "memory", write ? "write" : "read", address, length);
                status = CompletionStatus.UnsupportedRequest;
            }
            else
            {
                status = Deliver(target, bar, offset, readData, writeData, write);
            }
        }
        if (!write && status != CompletionStatus.SuccessfulCompletion) readData.Fill(0xFF);
        if (_tlpLog.IsEnabled(LogLevel.Trace))
            Log.AddressTlp(_tlpLog, io ? (write ? "IOWr" : "IORd") : (write ? "MWr" : "MRd"), RequesterId, address, length,
                target?.Function.Bdf ?? default, ConfigTlp.StatusName(status));
        return status;
    }

    CompletionStatus Deliver(FunctionSlot target, int bar, ulong offset, Span<byte> readData, ReadOnlySpan<byte> writeData, bool write)
    {
        try
        {
            if (write) target.Function.BarWrite(bar, offset, writeData);
            else target.Function.BarRead(bar, offset, readData);
            return CompletionStatus.SuccessfulCompletion;
        }
        catch (Exception ex)
        {
            Log.BarDeviceFault(_log, ex, target.Function.Name, bar, offset);
            return CompletionStatus.CompleterAbort;
        }
    }

    // TLPs must not be empty nor cross a 4 KiB boundary (§2.2.7).
    static bool IsWellFormed(ulong address, int length) =>
        length is > 0 and <= MaxPayload && (address & (MaxPayload - 1)) + (ulong)length <= MaxPayload;

    /// <summary>
    /// Routes an address-routed request down from <paramref name="bus"/>: on each bus the function
    /// whose enabled BAR decodes the address completes it; otherwise the bridge whose window holds
    /// it (and whose Memory / I/O Space Enable is set) forwards it to its secondary bus.
    /// </summary>
    /// <remarks>With <paramref name="recorder"/>, every config space the walk reads is recorded (for the route cache).</remarks>
    static FunctionSlot? RouteDown(PciBus bus, ulong address, bool io, out int bar, out ulong offset,
        out FunctionSlot? rootPort, out FunctionSlot? detector, RouteRecorder? recorder = null)
    {
        rootPort = null;
        while (true)
        {
            FunctionSlot? next = null;
            foreach (var s in bus.Decoders)
            {
                var f = s.Function;
                recorder?.Add(f.Config); // its BARs, Command, SR-IOV VF BARs or bridge windows decide here
                if (io ? f.TryDecodeIo(address, out bar, out offset) : f.TryDecodeMemory(address, out bar, out offset))
                {
                    detector = null;
                    return s;
                }
                // VFs decode memory only, through their PF's VF BARs (§9.3.3.14): one check per PF, not per VF.
                if (!io && s.Sriov is { } iov && iov.TryDecodeMemory(address, out var vf, out bar, out offset))
                {
                    detector = null;
                    return vf;
                }
                if (s.Bridge is { } b && (io ? b.ForwardsIo(address) : b.ForwardsMemory(address)))
                {
                    if (s.LinkDisabled)
                    {
                        // Nothing crosses a disabled link (§2.9.1): the port completes it UR.
                        detector = s;
                        bar = -1;
                        offset = 0;
                        return null;
                    }
                    next = s;
                    break;
                }
            }
            if (next == null)
            {
                // Nobody claims it on this bus: the root complex, the switch, the device on the link,
                // or (empty link) the port itself completes it UR.
                detector = bus.Kind switch
                {
                    PciBusKind.Root => null,
                    PciBusKind.SwitchInternal => bus.Owner,
                    _ => bus.Members.Length != 0 ? null : bus.Owner,
                };
                bar = -1;
                offset = 0;
                return null;
            }
            if (bus.Kind == PciBusKind.Root) rootPort = next;
            bus = next.ChildBus!;
        }
    }

    static void NoteDownstreamUr(FunctionSlot? rootPort, FunctionSlot? detector)
    {
        detector?.NoteUnsupportedRequest();
        if (rootPort != null && detector != rootPort)
            rootPort.Function.Config.SetBits(PciRegs.SecondaryStatus, 2, (uint)PciStatus.ReceivedMasterAbort, true);
    }

    internal bool UpstreamMemoryWrite(FunctionSlot from, Bdf requester, ulong address, ReadOnlySpan<byte> data) =>
        Upstream(from, requester, address, default, data, write: true);

    internal bool UpstreamMemoryRead(FunctionSlot from, Bdf requester, ulong address, Span<byte> data) =>
        Upstream(from, requester, address, data, default, write: false);

    internal DmaMapStatus UpstreamMapForWrite(FunctionSlot from, Bdf requester, ulong address, int length, out Span<byte> memory)
    {
        // Fast path (see Upstream): plain RAM, way up clear, no IOMMU; a failed map touches nothing.
        if (FastRamPath(from, address, length) && HostMemory.TryMapForWrite(address, length, out memory))
        {
            TraceUpstream(requester, address, length, write: true, "host memory");
            return DmaMapStatus.Mapped;
        }
        memory = default;
        var status = UpstreamMap(from, requester, address, length, write: true, out ulong host);
        if (status == DmaMapStatus.Mapped && !HostMemory.TryMapForWrite(host, length, out memory)) status = DmaMapStatus.Unavailable;
        return status;
    }

    internal DmaMapStatus UpstreamMapForRead(FunctionSlot from, Bdf requester, ulong address, int length, out ReadOnlySpan<byte> memory)
    {
        if (FastRamPath(from, address, length) && HostMemory.TryMapForRead(address, length, out memory))
        {
            TraceUpstream(requester, address, length, write: false, "host memory");
            return DmaMapStatus.Mapped;
        }
        memory = default;
        var status = UpstreamMap(from, requester, address, length, write: false, out ulong host);
        if (status == DmaMapStatus.Mapped && !HostMemory.TryMapForRead(host, length, out memory)) status = DmaMapStatus.Unavailable;
        return status;
    }

    /// <summary>
    /// The zero-copy form of <see cref="Upstream"/>: the same route, checks, IOMMU translation, status
    /// side effects and TLP trace, but a request that reaches host RAM returns the host physical address
    /// instead of moving data. Requests that would end anywhere else (a peer, the interrupt controller)
    /// are not issued at all and report <see cref="DmaMapStatus.Unavailable"/>, so the caller's copying
    /// path issues them with every effect they normally have.
    /// </summary>
    DmaMapStatus UpstreamMap(FunctionSlot from, Bdf requester, ulong address, int length, bool write, out ulong hostAddress)
    {
        hostAddress = 0;
        if (IsWellFormed(address, length) && !ReachesHostRam(from, address)) return DmaMapStatus.Unavailable;
        var status = UpstreamRoute(from, requester, address, default, default, write, length, out string destination, mapOnly: true, out hostAddress);
        Finish(from, requester, address, length, write, status, destination, default);
        return status == CompletionStatus.SuccessfulCompletion ? DmaMapStatus.Mapped : DmaMapStatus.Failed;
    }

    /// <summary>
    /// True when a request from <paramref name="from"/> for <paramref name="address"/> would leave the
    /// hierarchy towards host RAM rather than to a peer below a switch or to the interrupt controller
    /// (side-effect free; access checks are the route's job).
    /// </summary>
    bool ReachesHostRam(FunctionSlot from, ulong address)
    {
        if (InterruptController.IsMsiAddress(address) || Mmio32.Contains(address) || Mmio64.Contains(address)) return false;
        if (!from.SwitchOnPath) return true; // only a switch peer could take it on the way
        var came = from;
        var bus = from.Bus;
        while (bus.Kind != PciBusKind.Root)
        {
            if (bus.Kind == PciBusKind.SwitchInternal)
                foreach (var peer in bus.Members)
                    if (peer != came && (peer.Function.TryDecodeMemory(address, out _, out _) || peer.Bridge is { } pb && pb.ForwardsMemory(address)))
                        return false;
            came = bus.Owner!;
            bus = came.Bus;
        }
        return true;
    }

    /// <summary>
    /// A memory request mastered by a function (DMA, MSI) travels up: the function needs Bus Master
    /// Enable to issue it, and every bridge forwarding it upstream needs Bus Master Enable too
    /// (§7.5.1.1.3); a bridge does not send back up an address inside its own windows. Inside a
    /// switch, another downstream port whose window holds the address takes it (peer-to-peer). At the
    /// root complex MSI-range writes go to the interrupt controller, other addresses to host RAM.
    /// </summary>
    bool Upstream(FunctionSlot from, Bdf requester, ulong address, Span<byte> readData, ReadOnlySpan<byte> writeData, bool write)
    {
        int length = write ? writeData.Length : readData.Length;
        // The common cases in one step: the way up is clear, no IOMMU, and the request is a DMA to plain RAM or
        // a well-formed MSI. The checks are those of UpstreamRoute in the same order and none has an effect
        // before the final access; a RAM access that fails touches nothing, so the full route below then runs
        // from scratch (an MSI that passes these checks cannot be refused by the interrupt controller).
        if (FastPathClear(from, address, length))
        {
            if (InterruptController.IsMsiAddress(address))
            {
                if (write && length == 4 && (address & 3) == 0 && InterruptController.Deliver(requester, address, writeData))
                {
                    TraceUpstream(requester, address, length, write, "interrupt controller");
                    return true;
                }
            }
            else if (!Mmio32.Contains(address) && !Mmio64.Contains(address)
                && (write ? HostMemory.Write(address, writeData) : HostMemory.Read(address, readData)))
            {
                TraceUpstream(requester, address, length, write, "host memory");
                return true;
            }
        }
        var status = UpstreamRoute(from, requester, address, readData, writeData, write, length, out string destination, mapOnly: false, out _);
        Finish(from, requester, address, length, write, status, destination, readData);
        return status == CompletionStatus.SuccessfulCompletion;
    }

    /// <summary>
    /// True when a request of <paramref name="length"/> bytes from <paramref name="from"/> reaches the root
    /// complex with every check passed and no IOMMU to consult: what the fast paths start from.
    /// </summary>
    // The fast path for a RAM access: the way up is clear, and the address is neither the MSI range nor MMIO.
    bool FastRamPath(FunctionSlot from, ulong address, int length) =>
        FastPathClear(from, address, length) && !InterruptController.IsMsiAddress(address) && !Mmio32.Contains(address) && !Mmio64.Contains(address);

    bool FastPathClear(FunctionSlot from, ulong address, int length) =>
        !IsFailed && Iommu == null && from.IsUpstreamPathClear(_generation, address) && IsWellFormed(address, length);

    void TraceUpstream(Bdf requester, ulong address, int length, bool write, string destination)
    {
        if (_tlpLog.IsEnabled(LogLevel.Trace))
            Log.UpstreamTlp(_tlpLog, write ? "MWr" : "MRd", requester, address, length, destination,
                ConfigTlp.StatusName(CompletionStatus.SuccessfulCompletion));
    }

    void Finish(FunctionSlot from, Bdf requester, ulong address, int length, bool write, CompletionStatus status, string destination, Span<byte> readData)
    {
        if (status != CompletionStatus.SuccessfulCompletion && !write)
        {
            readData.Fill(0xFF);
            // The requester received a UR completion for its read (§7.5.1.1.4 Received Master Abort).
            if (status == CompletionStatus.UnsupportedRequest)
                from.Function.RaiseStatus(PciStatus.ReceivedMasterAbort);
        }
        if (_tlpLog.IsEnabled(LogLevel.Trace))
            Log.UpstreamTlp(_tlpLog, write ? "MWr" : "MRd", requester, address, length, destination, ConfigTlp.StatusName(status));
    }

    CompletionStatus UpstreamRoute(FunctionSlot from, Bdf requester, ulong address, Span<byte> readData,
        ReadOnlySpan<byte> writeData, bool write, int length, out string destination, bool mapOnly, out ulong mappedAddress)
    {
        destination = "none";
        mappedAddress = 0;
        if (IsFailed)
        {
            // The host is gone: a DMA read completes UR, a DMA write or MSI is dropped (both counted).
            destination = "failed host";
            if (write) UpstreamDroppedAfterFailure++;
            else UpstreamRefusedAfterFailure++;
            if (_log.IsEnabled(LogLevel.Debug))
                Log.RefusedByFailedHost(_log, Name, InterruptController.IsMsiAddress(address) ? "MSI" : write ? "DMA write" : "DMA read", requester, address);
            return CompletionStatus.UnsupportedRequest;
        }
        // The checks of the way up, answered from the slot's cache when it is current (it equals the walk).
        if (from.IsUpstreamPathClear(_generation, address))
        {
            if (!IsWellFormed(address, length)) return Malformed(from, requester, address);
        }
        else
        {
            var walked = UpstreamWalk(from, requester, address, readData, writeData, write, length, ref destination, out bool atRoot);
            if (!atRoot) return walked;
        }

        if (InterruptController.IsMsiAddress(address))
            return ToInterruptController(from, requester, address, writeData, write, out destination);
        if (Mmio32.Contains(address) || Mmio64.Contains(address))
        {
            // Peer-to-peer between root ports is optional for a root complex; this one does not route it.
            Log.UpstreamUnsupported(_log, requester, address, "peer-to-peer through the root complex is not supported");
            return CompletionStatus.UnsupportedRequest;
        }
        if (Iommu is { } iommu)
        {
            // DMA remapping: the address is an I/O virtual address in the requester's domain.
            if (!iommu.TryTranslate(requester, address, length, write, out ulong hostAddress, out ulong stallNs))
            {
                destination = "IOMMU fault";
                Log.UpstreamBlocked(_log, requester, address, from.Function.Name, "the IOMMU has no translation for it (DMA remapping fault)");
                return CompletionStatus.UnsupportedRequest;
            }
            DmaStallNs += stallNs;
            address = hostAddress;
        }
        destination = "host memory";
        mappedAddress = address;
        bool ok = mapOnly ? HostMemory.Contains(address, length)
            : write ? HostMemory.Write(address, writeData) : HostMemory.Read(address, readData);
        if (ok) return CompletionStatus.SuccessfulCompletion;
        Log.UpstreamUnsupported(_log, requester, address, "outside host RAM");
        return CompletionStatus.UnsupportedRequest;
    }

    CompletionStatus Malformed(FunctionSlot from, Bdf requester, ulong address)
    {
        Log.UpstreamBlocked(_log, requester, address, from.Function.Name, "empty or crosses a 4 KiB boundary");
        return CompletionStatus.UnsupportedRequest;
    }

    /// <summary>
    /// The way up, checked live: Bus Master Enable of the function and of every bridge, bridge windows, switch
    /// peers. <paramref name="atRoot"/> is true when the request reached the root complex; otherwise the
    /// return value is how it completed (UR, or a peer's completion).
    /// </summary>
    CompletionStatus UpstreamWalk(FunctionSlot from, Bdf requester, ulong address, Span<byte> readData,
        ReadOnlySpan<byte> writeData, bool write, int length, ref string destination, out bool atRoot)
    {
        atRoot = false;
        if (!from.Function.BusMasterEnabled)
        {
            // A function with Bus Master Enable clear must not issue the request at all.
            Log.UpstreamBlocked(_log, requester, address, from.Function.Name, "the function's Bus Master Enable is clear");
            return CompletionStatus.UnsupportedRequest;
        }
        if (!IsWellFormed(address, length)) return Malformed(from, requester, address);
        var came = from;
        var bus = from.Bus;
        while (bus.Kind != PciBusKind.Root)
        {
            if (bus.Kind == PciBusKind.SwitchInternal)
            {
                foreach (var peer in bus.Members)
                {
                    if (peer == came) continue;
                    FunctionSlot? target;
                    int bar;
                    ulong off;
                    if (peer.Function.TryDecodeMemory(address, out bar, out off)) target = peer;
                    else if (peer.Bridge is { } pb && pb.ForwardsMemory(address))
                    {
                        target = RouteDown(peer.ChildBus!, address, false, out bar, out off, out _, out var detector);
                        if (target == null)
                        {
                            detector?.NoteUnsupportedRequest();
                            Log.UpstreamUnsupported(_log, requester, address, "no function below the peer port decodes the address");
                            return CompletionStatus.UnsupportedRequest;
                        }
                    }
                    else continue;
                    destination = target.Function.Name;
                    return Deliver(target, bar, off, readData, writeData, write);
                }
            }
            var owner = bus.Owner!;
            var bridge = owner.Bridge!;
            if (!bridge.BusMasterEnabled)
            {
                owner.NoteUnsupportedRequest();
                Log.UpstreamUnsupported(_log, requester, address, "a bridge on the way has Bus Master Enable clear");
                return CompletionStatus.UnsupportedRequest;
            }
            if (bridge.MemoryWindow.Contains(address) || bridge.PrefetchableWindow.Contains(address))
            {
                owner.NoteUnsupportedRequest();
                Log.UpstreamUnsupported(_log, requester, address, "the address lies in a bridge window below (not forwarded back up)");
                return CompletionStatus.UnsupportedRequest;
            }
            came = owner;
            bus = owner.Bus;
        }
        atRoot = true;
        return CompletionStatus.SuccessfulCompletion;
    }

    /// <summary>A request for the MSI range at the root complex: through interrupt remapping when an IOMMU is set.</summary>
    CompletionStatus ToInterruptController(FunctionSlot from, Bdf requester, ulong address, ReadOnlySpan<byte> writeData, bool write, out string destination)
    {
        destination = "interrupt controller";
        if (write && writeData.Length == 4 && (address & 3) == 0 && Iommu is { } ir)
        {
            // Interrupt remapping (VT-d §5): the IOMMU decides where the message goes.
            uint data = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(writeData);
            switch (ir.RemapInterrupt(requester, address, data, out ulong hostAddress, out uint hostData))
            {
                case InterruptRemapOutcome.Posted:
                    destination = "posted interrupt";
                    return CompletionStatus.SuccessfulCompletion;
                case InterruptRemapOutcome.Blocked:
                    Log.UpstreamBlocked(_log, requester, address, from.Function.Name, "interrupt remapping blocked the message");
                    return CompletionStatus.UnsupportedRequest;
                case InterruptRemapOutcome.Remapped:
                    Span<byte> remapped = stackalloc byte[4];
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(remapped, hostData);
                    return InterruptController.Deliver(requester, hostAddress, remapped)
                        ? CompletionStatus.SuccessfulCompletion : CompletionStatus.UnsupportedRequest;
            }
        }
        if (write && InterruptController.Deliver(requester, address, writeData)) return CompletionStatus.SuccessfulCompletion;
        Log.UpstreamUnsupported(_log, requester, address, write ? "malformed MSI write (must be one aligned dword)" : "read of the MSI range");
        return CompletionStatus.UnsupportedRequest;
    }
}
