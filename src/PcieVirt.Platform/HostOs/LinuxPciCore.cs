using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;

namespace PcieVirt.Platform.HostOs;

/// <summary>Timing and page size of the <see cref="LinuxPciCore"/> model.</summary>
public sealed record LinuxPciCoreOptions
{
    /// <summary>The OS page size: System Page Size is the smallest supported page at least this large (x86: 4 KiB).</summary>
    public ulong PageSize { get; init; } = 4096;
    /// <summary>Wait after setting VF Enable before touching the VFs (Linux: 100 ms, the spec's minimum, §9.3.3.3.1).</summary>
    public ulong VfEnableWaitNs { get; init; } = 100 * VirtualClock.Millisecond;
    /// <summary>Wait after clearing VF Enable before writing NumVFs = 0 (Linux: 1 s).</summary>
    public ulong VfDisableWaitNs { get; init; } = VirtualClock.Second;
    /// <summary>How long after VF Enable a VF may keep answering Request Retry Status before the OS gives up (1 s, §9.3.3.3.1).</summary>
    public ulong VfReadyTimeoutNs { get; init; } = VirtualClock.Second;
}

/// <summary>
/// A model of the Linux PCI core's SR-IOV support (<c>drivers/pci/iov.c</c> behaviour; the facts are in
/// /work/shared/reference/sriov-facts.md and spec-notes/sriov.md). Like a kernel it reaches the hardware
/// only through configuration accesses (<see cref="IConfigAccessor"/>) and waits in virtual time
/// (<see cref="VirtualClock"/>). <see cref="Boot"/> runs <c>sriov_init</c> on every PF;
/// <see cref="EnableVfs"/> / <see cref="DisableVfs"/> are what <c>echo N &gt; sriov_numvfs</c> does
/// through a PF driver's <c>sriov_configure</c>. Every failure is an <see cref="OsResult"/>, never an exception.
/// </summary>
public sealed class LinuxPciCore
{
    // SR-IOV capability registers (§9.3.3).
    const int Caps = 0x04, Ctrl = 0x08, InitialVfs = 0x0C, TotalVfsReg = 0x0E, NumVfsReg = 0x10, FuncLink = 0x12,
        VfOffset = 0x14, VfStrideReg = 0x16, VfDid = 0x1A, SupPgSize = 0x1C, SysPgSize = 0x20, VfBar0 = 0x24;
    const ushort CtrlVfEnable = 1 << 0, CtrlVfMse = 1 << 3, CtrlAri = 1 << 4;
    const uint CapVfMigration = 1 << 0;
    // PCI Express capability (§7.5.3).
    const int PcieFlags = 0x02, PcieDevCap = 0x04, PcieDevCtl2 = 0x28;
    const int PortTypeEndpoint = 0x0, PortTypeRcEndpoint = 0x9;
    const ushort AriForwardingEnable = 1 << 5;
    const ushort CommandIntxDisable = 1 << 10;

    readonly IConfigAccessor _config;
    readonly VirtualClock _clock;
    readonly ILogger _log;
    readonly Dictionary<PciAddress, SriovPhysicalFunction> _pfs = [];
    readonly List<SriovPhysicalFunction> _pfOrder = [];
    readonly Dictionary<PciAddress, VirtualFunctionDevice> _vfs = [];

    public LinuxPciCore(IConfigAccessor config, VirtualClock clock, ILogger? logger = null, LinuxPciCoreOptions? options = null)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _log = logger ?? NullLogger.Instance;
        Options = options ?? new LinuxPciCoreOptions();
    }

    public LinuxPciCoreOptions Options { get; }
    /// <summary>The SR-IOV PFs found at <see cref="Boot"/>, in address order.</summary>
    public IReadOnlyList<SriovPhysicalFunction> PhysicalFunctions => _pfOrder;
    /// <summary>Every VF the OS added, of all PFs.</summary>
    public IEnumerable<VirtualFunctionDevice> VirtualFunctions => _vfs.Values;

    /// <summary>The SR-IOV PF at <paramref name="address"/>, or null.</summary>
    public SriovPhysicalFunction? FindPhysicalFunction(PciAddress address) => _pfs.GetValueOrDefault(address);
    /// <summary>The VF the OS added at <paramref name="address"/>, or null.</summary>
    public VirtualFunctionDevice? FindVirtualFunction(PciAddress address) => _vfs.GetValueOrDefault(address);
    /// <summary>The OS's description of a VF it added (sysfs), or null.</summary>
    public FunctionInfo? Describe(PciAddress address) => _vfs.GetValueOrDefault(address)?.ToFunctionInfo();

    // ------------------------------------------------------------------ config access

    /// <summary>A VF answered Request Retry Status: it is not ready yet.</summary>
    sealed class NotReadyException(PciAddress address) : Exception($"{address} answered Request Retry Status")
    {
        public PciAddress Address { get; } = address;
    }

    /// <summary>A config request failed outright (UR, CA).</summary>
    sealed class AccessFailedException(PciAddress address, int offset, CompletionStatus status)
        : Exception(string.Create(CultureInfo.InvariantCulture, $"config access to {address} at 0x{offset:x3} completed {ConfigTlp.StatusName(status)}"));

    uint Rd(PciAddress a, int offset, int width)
    {
        var st = _config.Read(a, offset, width, out uint v);
        if (st == CompletionStatus.ConfigurationRequestRetry) throw new NotReadyException(a);
        if (st != CompletionStatus.SuccessfulCompletion) throw new AccessFailedException(a, offset, st);
        return v;
    }

    void Wr(PciAddress a, int offset, int width, uint value)
    {
        var st = _config.Write(a, offset, width, value);
        if (st == CompletionStatus.ConfigurationRequestRetry) throw new NotReadyException(a);
        if (st != CompletionStatus.SuccessfulCompletion) throw new AccessFailedException(a, offset, st);
    }

    void Wait(ulong ns, string why)
    {
        _clock.Advance(ns);
        Log.Waited(_log, VirtualClock.Format(ns), why, _clock.Now);
    }

    // ------------------------------------------------------------------ boot

    sealed record Bridge(PciAddress Address, int Secondary, int Subordinate, bool AriForwarding);

    /// <summary>
    /// Finds the SR-IOV PFs through configuration reads and runs <c>sriov_init</c> on each (see
    /// <see cref="InitPf"/>). Forgets what an earlier boot knew. Returns how many PFs are ready, or the
    /// first error (the other PFs are still initialised).
    /// </summary>
    public OsResult Boot()
    {
        _pfs.Clear();
        _pfOrder.Clear();
        _vfs.Clear();
        return Probe(null);
    }

    /// <summary>
    /// After a hot-plug slot rescan: forgets the PFs and VFs the OS knew on buses <paramref name="firstBus"/>..<paramref name="lastBus"/>
    /// and runs <c>sriov_init</c> on the SR-IOV PFs now found there, as Linux does for a hot-added device
    /// only. PFs elsewhere are not touched (a full <see cref="Boot"/> would disable their VFs).
    /// </summary>
    public OsResult RescanBuses(int firstBus, int lastBus)
    {
        foreach (var pf in _pfOrder.Where(p => p.Address.Bdf.Bus >= firstBus && p.Address.Bdf.Bus <= lastBus).ToList())
        {
            _pfs.Remove(pf.Address);
            _pfOrder.Remove(pf);
        }
        foreach (var a in _vfs.Keys.Where(a => a.Bdf.Bus >= firstBus && a.Bdf.Bus <= lastBus).ToList()) _vfs.Remove(a);
        return Probe((firstBus, lastBus));
    }

    OsResult Probe((int First, int Last)? range)
    {
        var bridges = new List<Bridge>();
        var endpoints = new List<(PciAddress Address, int Pcie)>();
        OsResult first = default;
        int failures = 0;
        try
        {
            foreach (var a in _config.Functions())
            {
                // A function whose Vendor ID reads FFFFh is absent to a scan (VFs are found through their PF).
                if (_config.Read(a, 0, 2, out uint vendor) != CompletionStatus.SuccessfulCompletion || vendor is 0xFFFF or 0) continue;
                int type = (int)Rd(a, 0x0E, 1) & 0x7F;
                int pcie = CapabilityWalker.FindCapability(_config, a, CapabilityIds.PciExpress);
                if (type == 1)
                {
                    uint buses = Rd(a, 0x18, 4);
                    bool ari = pcie != 0 && (Rd(a, pcie + PcieDevCtl2, 2) & AriForwardingEnable) != 0;
                    bridges.Add(new Bridge(a, (int)(buses >> 8) & 0xFF, (int)(buses >> 16) & 0xFF, ari));
                }
                else if (type == 0 && (range is not { } only || a.Bdf.Bus >= only.First && a.Bdf.Bus <= only.Last)) endpoints.Add((a, pcie));
            }
        }
        catch (Exception e) when (e is NotReadyException or AccessFailedException)
        {
            return Fail(LinuxErrno.EIO, "boot", $"scan failed: {e.Message}");
        }
        var pfBuses = new HashSet<(ushort, int)>();
        foreach (var (a, pcie) in endpoints)
        {
            int cap = CapabilityWalker.FindExtendedCapability(_config, a, CapabilityIds.SingleRootIov);
            if (cap == 0) continue;
            // sriov_init applies to Endpoints and RC integrated Endpoints only.
            int portType = -1;
            if (pcie != 0 && _config.Read(a, pcie + PcieFlags, 2, out uint flags) == CompletionStatus.SuccessfulCompletion)
                portType = (int)(flags >> 4) & 0xF;
            if (portType is not (PortTypeEndpoint or PortTypeRcEndpoint)) continue;
            Bridge? up = null;
            foreach (var b in bridges)
                if (b.Address.Segment == a.Segment && b.Secondary == a.Bdf.Bus && b.Subordinate >= b.Secondary) { up = b; break; }
            // ARI Capable Hierarchy is set in the first PF found on a bus below a port with ARI Forwarding
            // enabled (the lowest-numbered one, §9.3.3.3.5); other PFs get 0.
            bool firstOnBus = pfBuses.Add((a.Segment, a.Bdf.Bus));
            var r = InitPf(a, cap, up != null ? (a.Bdf.Bus, up.Subordinate) : (a.Bdf.Bus, a.Bdf.Bus), firstOnBus && up?.AriForwarding == true);
            if (r.Success) continue;
            failures++;
            if (first.Message == null) first = r;
        }
        Log.Booted(_log, _config.Name, _pfOrder.Count, failures);
        return failures == 0 ? OsResult.Ok($"{_pfOrder.Count} SR-IOV PFs initialised") : first;
    }

    /// <summary>
    /// <c>sriov_init</c> for one PF, in the order Linux issues the accesses: read Control (and if VF Enable
    /// is set, clear it and wait 1 s); write Control = ARI Capable Hierarchy or 0; read TotalVFs; read
    /// Supported Page Sizes and write System Page Size; size each VF BAR (save, all ones, read, restore,
    /// the upper half of a 64-bit BAR too); read VF Device ID, Capabilities and Function Dependency Link;
    /// then NumVFs = TotalVFs … 1, reading First VF Offset and VF Stride each time, to find the last bus
    /// VFs can reach; finally NumVFs = 0.
    /// </summary>
    OsResult InitPf(PciAddress a, int cap, (int First, int Last) busRange, bool ariHierarchy)
    {
        try
        {
            uint ctrl = Rd(a, cap + Ctrl, 2);
            if ((ctrl & CtrlVfEnable) != 0)
            {
                Wr(a, cap + Ctrl, 2, 0);
                Wait(Options.VfDisableWaitNs, "VFs left enabled by a previous owner were disabled");
            }
            ushort control = ariHierarchy ? CtrlAri : (ushort)0;
            Wr(a, cap + Ctrl, 2, control);
            ushort total = (ushort)Rd(a, cap + TotalVfsReg, 2);
            if (total == 0) return OsResult.Ok($"{a}: TotalVFs is 0; no SR-IOV");

            uint supported = Rd(a, cap + SupPgSize, 4);
            // The smallest supported page at least as large as the OS page (§9.3.3.13: exactly one bit).
            int shift = Math.Max(0, System.Numerics.BitOperations.Log2(Options.PageSize) - 12);
            uint usable = shift >= 32 ? 0 : supported & ~((1u << shift) - 1);
            if (usable == 0) return Fail(LinuxErrno.EIO, a, $"no supported page size (0x{supported:x8}) fits a {Options.PageSize}-byte page");
            uint pageBit = usable & (~usable + 1);
            Wr(a, cap + SysPgSize, 4, pageBit);
            ulong page = 4096UL << System.Numerics.BitOperations.TrailingZeroCount(pageBit);

            var pf = new SriovPhysicalFunction(a, cap) { TotalVfs = total, SystemPageSize = pageBit, Control = control, BusRange = busRange };
            for (int i = 0; i < 6; i++)
            {
                int reg = cap + VfBar0 + 4 * i;
                uint saved = Rd(a, reg, 4);
                Wr(a, reg, 4, 0xFFFF_FFFF);
                uint probe = Rd(a, reg, 4);
                Wr(a, reg, 4, saved);
                if (probe is 0 or 0xFFFF_FFFF) continue;
                if ((probe & 1) != 0) return Fail(LinuxErrno.EIO, a, $"VF BAR{i} is an I/O BAR; VF BARs are memory only (§9.3.3.14)");
                bool is64 = (probe & 6) == 4;
                ulong mask = probe & ~0xFUL, baseAddr = saved & ~0xFUL;
                if (is64 && i < 5)
                {
                    uint savedHi = Rd(a, reg + 4, 4);
                    Wr(a, reg + 4, 4, 0xFFFF_FFFF);
                    uint probeHi = Rd(a, reg + 4, 4);
                    Wr(a, reg + 4, 4, savedHi);
                    mask |= (ulong)probeHi << 32;
                    baseAddr |= (ulong)savedHi << 32;
                }
                else mask |= 0xFFFF_FFFF_0000_0000UL;
                ulong size = ~mask + 1;
                if (size == 0 || (size & (size - 1)) != 0 || size % page != 0)
                    return Fail(LinuxErrno.EIO, a, $"VF BAR{i} sizes to 0x{size:x}, not a power of two multiple of the 0x{page:x}-byte page");
                pf._vfBarSizes[i] = size;
                // The resource covers TotalVFs VFs; its base is where firmware put VF BAR i (0 = unassigned).
                pf._vfBars[i] = new BarResource(baseAddr == 0 ? 0 : baseAddr | (probe & 0xF), size * total);
                Log.VfBarSized(_log, a, i, baseAddr, size, total);
                if (is64) i++;
            }
            pf.VfDeviceId = (ushort)Rd(a, cap + VfDid, 2);
            pf.Capabilities = Rd(a, cap + Caps, 4);
            pf.FunctionDependencyLink = (byte)Rd(a, cap + FuncLink, 1);
            pf.VendorId = (ushort)Rd(a, 0, 2);

            // The last bus VFs can reach, for every NumVFs (offset and stride may change with it, §9.3.3.9-10).
            pf._lastVfBus = new ushort[total + 1];
            pf.MaxVfBus = a.Bdf.Bus;
            for (int n = total; n >= 1; n--)
            {
                SetNumVfs(pf, n);
                if (pf.FirstVfOffset == 0 || (n > 1 && pf.VfStride == 0))
                {
                    SetNumVfs(pf, 0);
                    return Fail(LinuxErrno.EIO, a, $"First VF Offset {pf.FirstVfOffset} / VF Stride {pf.VfStride} are invalid for NumVFs {n} (§9.3.3.9-10)");
                }
                int bus = LastVfBus(pf, n);
                pf._lastVfBus[n] = (ushort)bus;
                pf.MaxVfBus = Math.Max(pf.MaxVfBus, Math.Min(bus, 255));
            }
            SetNumVfs(pf, 0);
            _pfs[a] = pf;
            _pfOrder.Add(pf);
            _pfOrder.Sort((x, y) => x.Address.CompareTo(y.Address));
            Log.PfInitialised(_log, a, total, pf.FirstVfOffset, pf.VfStride, pf.MaxVfBus, busRange.Last);
            return OsResult.Ok($"{a}: SR-IOV initialised, TotalVFs {total}");
        }
        catch (Exception e) when (e is NotReadyException or AccessFailedException)
        {
            return Fail(LinuxErrno.EIO, a, $"sriov_init failed: {e.Message}");
        }
    }

    /// <summary>Writes NumVFs and reads back First VF Offset and VF Stride (they may change with NumVFs).</summary>
    void SetNumVfs(SriovPhysicalFunction pf, int n)
    {
        Wr(pf.Address, pf.Capability + NumVfsReg, 2, (uint)n);
        pf.FirstVfOffset = (ushort)Rd(pf.Address, pf.Capability + VfOffset, 2);
        pf.VfStride = (ushort)Rd(pf.Address, pf.Capability + VfStrideReg, 2);
    }

    /// <summary>Bus of VF <paramref name="n"/> (1-based) with the offset and stride just read; above 255 when it runs off the bus space.</summary>
    static int LastVfBus(SriovPhysicalFunction pf, int n) =>
        (pf.Address.Bdf.Value + pf.FirstVfOffset + (n - 1) * pf.VfStride) >> 8;

    // ------------------------------------------------------------------ enable / disable

    /// <summary>
    /// What <c>echo <paramref name="numVfs"/> &gt; sriov_numvfs</c> does: 0 disables; otherwise the checks
    /// (TotalVFs, already enabled, InitialVFs, VF BAR resources assigned, the last VF's bus inside the bus
    /// range), then NumVFs, First VF Offset / VF Stride read back, Control = VF Enable | VF MSE (| ARI
    /// Capable Hierarchy), a 100 ms wait, and a scan of every VF. A failing check changes nothing; a VF
    /// that does not come up rolls everything back.
    /// </summary>
    public OsResult EnableVfs(PciAddress pfAddress, int numVfs)
    {
        if (!_pfs.TryGetValue(pfAddress, out var pf)) return Fail(LinuxErrno.ENODEV, pfAddress, "not an SR-IOV PF the OS initialised");
        if (numVfs == 0) return DisableVfs(pfAddress);
        if (numVfs == pf.NumVfs) return OsResult.Ok($"{pfAddress.ToString(withDomain: true)}: {numVfs} VFs already enabled");
        if (numVfs < 0 || numVfs > pf.TotalVfs)
            return Fail(LinuxErrno.ERANGE, pfAddress, $"{numVfs} VFs requested; sriov_totalvfs is {pf.TotalVfs}");
        if (pf.NumVfs != 0)
            return Fail(LinuxErrno.EBUSY, pfAddress, $"{pf.NumVfs} VFs already enabled. Disable before enabling {numVfs} VFs");
        var a = pf.Address;
        try
        {
            ushort initial = (ushort)Rd(a, pf.Capability + InitialVfs, 2);
            bool migration = (pf.Capabilities & CapVfMigration) != 0;
            if (initial > pf.TotalVfs || (!migration && initial != pf.TotalVfs))
                return Fail(LinuxErrno.EIO, a, $"InitialVFs {initial} is inconsistent with TotalVFs {pf.TotalVfs} (§9.3.3.5)");
            if (!migration && numVfs > initial)
                return Fail(LinuxErrno.EINVAL, a, $"{numVfs} VFs requested; InitialVFs is {initial}");
            for (int i = 0; i < 6; i++)
                if (pf._vfBarSizes[i] != 0 && pf._vfBars[i].Base == 0)
                    return Fail(LinuxErrno.ENOMEM, a, $"not enough MMIO resources for SR-IOV (VF BAR{i} is unassigned)");
            // Checked before touching the device, with the offset/stride probed at init for this NumVFs.
            int lastBus = pf._lastVfBus[numVfs];
            if (lastBus > pf.BusRange.Last)
                return BusOutOfRange(pf, numVfs, lastBus);

            SetNumVfs(pf, numVfs);
            if (pf.FirstVfOffset == 0 || (numVfs > 1 && pf.VfStride == 0))
            {
                SetNumVfs(pf, 0);
                return Fail(LinuxErrno.EIO, a, $"First VF Offset {pf.FirstVfOffset} / VF Stride {pf.VfStride} are invalid for NumVFs {numVfs}");
            }
            lastBus = LastVfBus(pf, numVfs);
            if (lastBus > pf.BusRange.Last)
            {
                SetNumVfs(pf, 0);
                return BusOutOfRange(pf, numVfs, lastBus);
            }
            ushort control = (ushort)(pf.Control | CtrlVfEnable | CtrlVfMse);
            Wr(a, pf.Capability + Ctrl, 2, control);
            ulong enabledAt = _clock.Now;
            Wait(Options.VfEnableWaitNs, "VF Enable settle time (§9.3.3.3.1)");

            var added = new List<VirtualFunctionDevice>(numVfs);
            for (int i = 0; i < numVfs; i++)
            {
                var vf = ScanVfUntilReady(pf, i, enabledAt, out string? error);
                if (vf == null)
                {
                    RollBack(pf);
                    return Fail(LinuxErrno.EIO, a, $"VF{i} at {pf.VfAddress(i)} did not come up: {error}; SR-IOV disabled again");
                }
                added.Add(vf);
            }
            pf._vfs.AddRange(added);
            foreach (var vf in added) _vfs[vf.Address] = vf;
            pf.NumVfs = numVfs;
            Log.VfsEnabled(_log, a, numVfs, added[0].Address, added[^1].Address);
            string at = a.ToString(withDomain: true);
            return OsResult.Ok(string.Create(CultureInfo.InvariantCulture,
                $"{at}: NumVFs = {numVfs}; First VF Offset {pf.FirstVfOffset}, VF Stride {pf.VfStride}\n"
                + $"{at}: SR-IOV Control = 0x{control:x4} ({ControlText(control)}); waited {VirtualClock.Format(_clock.Now - enabledAt)}\n"
                + $"{at}: enabled {numVfs} VFs: {added[0].Address.ToString(withDomain: true)} .. {added[^1].Address.ToString(withDomain: true)}"));
        }
        catch (Exception e) when (e is NotReadyException or AccessFailedException)
        {
            return Fail(LinuxErrno.EIO, a, $"enabling VFs failed: {e.Message}");
        }
    }

    OsResult BusOutOfRange(SriovPhysicalFunction pf, int numVfs, int lastBus) =>
        Fail(LinuxErrno.ENOMEM, pf.Address, string.Create(CultureInfo.InvariantCulture,
            $"can't enable {numVfs} VFs (bus {lastBus:x2} out of range of [bus {pf.BusRange.First:x2}-{pf.BusRange.Last:x2}]): not enough bus numbers"));

    /// <summary>
    /// Scans VF index <paramref name="index"/>; while it answers Request Retry Status, waits (1, 2, 4 … ms)
    /// until <see cref="LinuxPciCoreOptions.VfReadyTimeoutNs"/> after VF Enable.
    /// </summary>
    VirtualFunctionDevice? ScanVfUntilReady(SriovPhysicalFunction pf, int index, ulong enabledAt, out string? error)
    {
        ulong delay = VirtualClock.Millisecond;
        while (true)
        {
            try
            {
                error = null;
                return ScanVf(pf, index);
            }
            catch (NotReadyException e)
            {
                ulong waited = _clock.Now - enabledAt;
                if (waited >= Options.VfReadyTimeoutNs)
                {
                    error = $"still answering Request Retry Status {VirtualClock.Format(waited)} after VF Enable";
                    return null;
                }
                Wait(Math.Min(delay, Options.VfReadyTimeoutNs - waited), $"{e.Address} not ready (Request Retry Status)");
                delay *= 2;
            }
            catch (AccessFailedException e)
            {
                error = e.Message;
                return null;
            }
        }
    }

    /// <summary>
    /// Reads what Linux's VF setup reads: Class Code and Revision, Header Type, Subsystem IDs, Status and the
    /// capability list, the PCI Express capability, MSI-X's table size; then probes whether the Command
    /// register's Interrupt Disable bit sticks (toggle, read, restore).
    /// </summary>
    VirtualFunctionDevice ScanVf(SriovPhysicalFunction pf, int index)
    {
        var a = pf.VfAddress(index);
        uint classRev = Rd(a, 0x08, 4);
        byte header = (byte)Rd(a, 0x0E, 1);
        if ((header & 0x7F) != 0) throw new AccessFailedException(a, 0x0E, CompletionStatus.CompleterAbort);
        ushort ssvid = (ushort)Rd(a, 0x2C, 2), ssid = (ushort)Rd(a, 0x2E, 2);
        ushort status = (ushort)Rd(a, 0x06, 2);
        var caps = new List<byte>();
        int pcie = 0, msix = 0;
        if ((status & 0x10) != 0)
        {
            int ptr = (int)Rd(a, 0x34, 1) & 0xFC;
            for (int guard = 0; guard < 48 && ptr >= 0x40; guard++)
            {
                uint hdr = Rd(a, ptr, 2);
                byte id = (byte)hdr;
                caps.Add(id);
                if (id == 0x10 && pcie == 0) pcie = ptr;
                if (id == 0x11 && msix == 0) msix = ptr;
                ptr = (int)(hdr >> 8) & 0xFC;
            }
        }
        ushort flags = pcie != 0 ? (ushort)Rd(a, pcie + PcieFlags, 2) : (ushort)0;
        uint devCap = pcie != 0 ? Rd(a, pcie + PcieDevCap, 4) : 0;
        int tableSize = msix != 0 ? (int)(Rd(a, msix + 2, 2) & 0x7FF) + 1 : 0;
        ushort cmd = (ushort)Rd(a, 0x04, 2);
        ushort toggled = (ushort)(cmd ^ CommandIntxDisable);
        Wr(a, 0x04, 2, toggled);
        bool broken = (ushort)Rd(a, 0x04, 2) != toggled;
        Wr(a, 0x04, 2, cmd);

        var bars = new BarResource[6];
        for (int i = 0; i < 6; i++)
        {
            ulong size = pf._vfBarSizes[i];
            if (size != 0) bars[i] = new BarResource(pf._vfBars[i].Base + (ulong)index * size, size);
        }
        return new VirtualFunctionDevice(a, index, pf.Address, pf.VendorId, pf.VfDeviceId, classRev, header, ssvid, ssid, caps,
            flags, devCap, tableSize, broken, bars);
    }

    void RollBack(SriovPhysicalFunction pf)
    {
        try
        {
            Wr(pf.Address, pf.Capability + Ctrl, 2, pf.Control);
            Wait(Options.VfDisableWaitNs, "VF Enable cleared after a failed enable");
            SetNumVfs(pf, 0);
        }
        catch (Exception e) when (e is NotReadyException or AccessFailedException)
        {
            Log.Failed(_log, pf.Address.ToString(), $"rolling back failed: {e.Message}");
        }
    }

    /// <summary>
    /// Removes the VFs the OS added, clears VF Enable and VF MSE, waits 1 s (as Linux does), then writes
    /// NumVFs = 0 (reading First VF Offset / VF Stride back). Nothing to do when no VFs were added.
    /// </summary>
    public OsResult DisableVfs(PciAddress pfAddress)
    {
        if (!_pfs.TryGetValue(pfAddress, out var pf)) return Fail(LinuxErrno.ENODEV, pfAddress, "not an SR-IOV PF the OS initialised");
        if (pf.NumVfs == 0) return OsResult.Ok($"{pfAddress.ToString(withDomain: true)}: no VFs enabled");
        int n = pf.NumVfs;
        foreach (var vf in pf._vfs) _vfs.Remove(vf.Address);
        pf._vfs.Clear();
        pf.NumVfs = 0;
        try
        {
            Wr(pf.Address, pf.Capability + Ctrl, 2, pf.Control);
            Wait(Options.VfDisableWaitNs, "VF Enable cleared");
            SetNumVfs(pf, 0);
        }
        catch (Exception e) when (e is NotReadyException or AccessFailedException)
        {
            return Fail(LinuxErrno.EIO, pf.Address, $"disabling VFs failed: {e.Message}");
        }
        Log.VfsDisabled(_log, pf.Address, n);
        string at = pf.Address.ToString(withDomain: true);
        return OsResult.Ok(string.Create(CultureInfo.InvariantCulture,
            $"{at}: SR-IOV Control = 0x{pf.Control:x4} (VF Enable and VF MSE cleared); waited {VirtualClock.Format(Options.VfDisableWaitNs)}\n"
            + $"{at}: NumVFs = 0; disabled {n} VFs"));
    }

    static string ControlText(ushort control)
    {
        var parts = new List<string>(3);
        if ((control & CtrlVfEnable) != 0) parts.Add("VF Enable");
        if ((control & CtrlVfMse) != 0) parts.Add("VF MSE");
        if ((control & CtrlAri) != 0) parts.Add("ARI Capable Hierarchy");
        return string.Join(", ", parts);
    }

    // ------------------------------------------------------------------ sysfs

    /// <summary>
    /// The PF's SR-IOV attributes as Linux shows them in sysfs: sriov_totalvfs, sriov_numvfs, sriov_offset,
    /// sriov_stride, sriov_vf_device (hex without leading zeros), sriov_vf_total_msix (when the VFs have MSI-X:
    /// the sum of their table sizes), then one virtfnN link per VF. Null for an address that is not a PF.
    /// </summary>
    public IReadOnlyList<(string Name, string Value)>? Sysfs(PciAddress pfAddress)
    {
        if (!_pfs.TryGetValue(pfAddress, out var pf)) return null;
        var inv = CultureInfo.InvariantCulture;
        var list = new List<(string, string)>
        {
            ("sriov_totalvfs", pf.TotalVfs.ToString(inv)),
            ("sriov_numvfs", pf.NumVfs.ToString(inv)),
            ("sriov_offset", pf.FirstVfOffset.ToString(inv)),
            ("sriov_stride", pf.VfStride.ToString(inv)),
            ("sriov_vf_device", pf.VfDeviceId.ToString("x", inv)),
        };
        int msix = 0;
        foreach (var vf in pf._vfs) msix += vf.MsixTableSize;
        if (msix > 0) list.Add(("sriov_vf_total_msix", msix.ToString(inv)));
        foreach (var vf in pf._vfs)
            list.Add(($"virtfn{vf.Index.ToString(inv)}", vf.Address.ToString(withDomain: true)));
        return list;
    }

    OsResult Fail(LinuxErrno errno, PciAddress a, string message) => Fail(errno, a.ToString(withDomain: true), message);

    OsResult Fail(LinuxErrno errno, string where, string message)
    {
        var r = new OsResult(errno, $"{where}: {message}");
        Log.Failed(_log, where, $"{message}: {r.ErrorText} ({errno})");
        return r;
    }
}
