using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;

namespace PcieVirt.Pci.Functions;

/// <summary>
/// A PCI Express function: its configuration space (header, BARs, capability lists) and the memory
/// and I/O space its BARs decode. The fabric owns addressing; a function only answers "does this
/// address hit one of my enabled BARs" and serves the access.
/// </summary>
public abstract class PciFunction : IConfigWriteObserver
{
    readonly List<PciCapability> _capabilities = [];
    readonly BarDefinition?[] _bars = new BarDefinition?[6];
    readonly List<(int Bar, ulong Offset, ulong Length, IBarRegion Handler)> _regions = [];
    bool _sealed;

    protected PciFunction(string name, FunctionIdentity identity, ILogger? logger = null)
    {
        Name = name;
        Identity = identity;
        Logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Name given by the model (for logs and tooling).</summary>
    public string Name { get; }
    public FunctionIdentity Identity { get; }
    public ConfigSpace Config { get; } = new();
    public ILogger Logger { get; set; }

    /// <summary>
    /// This function's routing ID. The device/function part is fixed by where it sits; the bus part
    /// follows the Secondary Bus Number of the bridge above (set by the fabric as firmware programs it).
    /// </summary>
    public Bdf Bdf { get; set; }

    /// <summary>Where requests this function masters go (set by the fabric).</summary>
    public IUpstreamPort? Upstream { get; set; }

    /// <summary>0 for a Type 0 (endpoint) header, 1 for a Type 1 (bridge) header.</summary>
    public abstract int HeaderLayout { get; }
    public bool IsBridge => HeaderLayout == 1;
    /// <summary>True for an SR-IOV virtual function.</summary>
    public virtual bool IsVirtualFunction => false;
    public int ExpansionRomOffset => HeaderLayout == 0 ? PciRegs.ExpansionRomType0 : PciRegs.ExpansionRomType1;

    public IReadOnlyList<PciCapability> Capabilities => _capabilities;
    public ReadOnlySpan<BarDefinition?> Bars => _bars;
    /// <summary>Expansion ROM size in bytes (0 = none).</summary>
    public uint ExpansionRomSize { get; private set; }
    public bool IsSealed => _sealed;

    public T? FindCapability<T>() where T : PciCapability
    {
        foreach (var c in _capabilities) if (c is T t) return t;
        return null;
    }

    public PciCapability? FindCapability(ushort id, bool extended)
    {
        foreach (var c in _capabilities) if (c.Id == id && c.IsExtended == extended) return c;
        return null;
    }

    public PciFunction AddCapability(PciCapability capability)
    {
        EnsureNotSealed();
        _capabilities.Add(capability);
        return this;
    }

    public PciFunction DefineBar(BarDefinition bar)
    {
        EnsureNotSealed();
        if (bar.Validate() is { } err) throw new ArgumentException($"BAR{bar.Index}: {err}");
        int maxBars = HeaderLayout == 0 ? 6 : 2;
        if (bar.Index >= maxBars || (bar.Is64Bit && bar.Index + 1 >= maxBars))
            throw new ArgumentException($"BAR{bar.Index}: a Type {HeaderLayout} header has {maxBars} BAR registers");
        if (_bars[bar.Index] != null || (bar.Index > 0 && _bars[bar.Index - 1]?.Is64Bit == true))
            throw new ArgumentException($"BAR{bar.Index}: register already used");
        if (bar.Is64Bit && _bars[bar.Index + 1] != null)
            throw new ArgumentException($"BAR{bar.Index}: a 64-bit BAR needs BAR{bar.Index + 1} too");
        _bars[bar.Index] = bar;
        return this;
    }

    public PciFunction DefineExpansionRom(uint size)
    {
        EnsureNotSealed();
        if (size < 2048 || (size & (size - 1)) != 0) throw new ArgumentException("an expansion ROM is a power of two of at least 2 KiB");
        ExpansionRomSize = size;
        return this;
    }

    /// <summary>Claims a byte range inside a BAR for a handler (device registers, MSI-X table, PBA).</summary>
    public void MapRegion(int bar, ulong offset, ulong length, IBarRegion handler)
    {
        var def = _bars[bar] ?? throw new ArgumentException($"BAR{bar} is not implemented");
        if (offset + length > def.Size) throw new ArgumentException($"region 0x{offset:x}+0x{length:x} exceeds BAR{bar} size 0x{def.Size:x}");
        foreach (var r in _regions)
            if (r.Bar == bar && offset < r.Offset + r.Length && r.Offset < offset + length)
                throw new ArgumentException($"region 0x{offset:x}+0x{length:x} overlaps another in BAR{bar}");
        _regions.Add((bar, offset, length, handler));
    }

    /// <summary>
    /// Lays out the header, BARs and capability lists and records the reset image. Called once, after
    /// all capabilities and BARs are defined.
    /// </summary>
    public void Seal()
    {
        EnsureNotSealed();
        var c = Config;
        c.Define(PciRegs.VendorId, 2, Identity.VendorId);
        c.Define(PciRegs.DeviceId, 2, Identity.DeviceId);
        c.Define(PciRegs.RevisionId, 1, Identity.RevisionId);
        c.Define(PciRegs.ClassCode, 3, Identity.ClassCode);
        // PCIe: Cache Line Size is RW with no effect; Latency Timer and BIST hardwired to 0 (§7.5.1.1.7-10).
        c.Define(PciRegs.CacheLineSize, 1, 0, 0xFF, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.HeaderType, 1, (uint)HeaderLayout);
        c.Define(PciRegs.InterruptLine, 1, 0xFF, 0xFF, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.InterruptPin, 1, Identity.InterruptPin);

        bool hasIo = false, hasMem = false;
        foreach (var b in _bars)
        {
            if (b == null) continue;
            hasIo |= b.Kind == BarKind.Io;
            hasMem |= b.IsMemory;
        }
        LayoutHeader(c, ref hasIo, ref hasMem);
        LayoutCommandStatus(c, hasIo, hasMem);
        LayoutBars(c);
        LayoutCapabilities(c);
        c.Observe(0, 0x40, this);
        _sealed = true;
        foreach (var cap in _capabilities) cap.OnFunctionSealed();
        OnSealed();
        Config.EndAdoption();
    }

    /// <summary>Type-specific header registers. A bridge sets the flags when it forwards I/O or memory.</summary>
    protected abstract void LayoutHeader(ConfigSpace c, ref bool decodesIo, ref bool decodesMemory);

    /// <summary>Hook for subclasses after sealing.</summary>
    protected virtual void OnSealed() { }

    /// <summary>Command bits a requester may change (others hardwired 0 for PCIe, §7.5.1.1.3).</summary>
    protected virtual ushort CommandWritableBits(bool hasIo, bool hasMem)
    {
        var rw = PciCommand.BusMaster | PciCommand.ParityErrorResponse | PciCommand.SerrEnable;
        if (hasIo) rw |= PciCommand.IoSpace;
        if (hasMem) rw |= PciCommand.MemorySpace;
        if (Identity.InterruptPin != 0) rw |= PciCommand.InterruptDisable;
        return (ushort)rw;
    }

    void LayoutCommandStatus(ConfigSpace c, bool hasIo, bool hasMem)
    {
        c.Define(PciRegs.Command, 2, 0, CommandWritableBits(hasIo, hasMem), kind: RegisterKind.ReadWrite);
        uint status = _capabilities.Any(x => !x.IsExtended) ? (uint)PciStatus.CapabilitiesList : 0;
        c.Define(PciRegs.Status, 2, status, w1cMask: (uint)PciStatus.ErrorBits, kind: RegisterKind.Mixed);
    }

    void LayoutBars(ConfigSpace c)
    {
        int count = HeaderLayout == 0 ? 6 : 2;
        for (int i = 0; i < count; i++)
        {
            int off = PciRegs.Bar0 + 4 * i;
            var b = _bars[i];
            if (b == null || b.Kind == BarKind.None)
            {
                if (i > 0 && _bars[i - 1]?.Is64Bit == true) continue; // upper half, laid out below
                c.Define(off, 4, 0);
                continue;
            }
            // Sizing (§7.5.1.2.1): only address bits at or above the size are writable, so writing all
            // ones reads back the size mask with the type bits intact.
            uint typeMask = b.Kind == BarKind.Io ? 0x3u : 0xFu;
            uint lowRw = (uint)~(b.Size - 1) & ~typeMask;
            c.Define(off, 4, b.TypeBits, lowRw, kind: RegisterKind.ReadWrite);
            if (b.Is64Bit)
                c.Define(off + 4, 4, 0, (uint)(~(b.Size - 1) >> 32), kind: RegisterKind.ReadWrite);
        }
        int rom = ExpansionRomOffset;
        if (ExpansionRomSize != 0)
            c.Define(rom, 4, 0, ~(ExpansionRomSize - 1) | 1u, kind: RegisterKind.ReadWrite); // bit 0 = ROM enable
        else
            c.Define(rom, 4, 0);
    }

    void LayoutCapabilities(ConfigSpace c)
    {
        int next = 0x40;
        PciCapability? prev = null;
        foreach (var cap in _capabilities.Where(x => !x.IsExtended))
        {
            int at = cap.PreferredOffset != 0 ? cap.PreferredOffset : next;
            if (at < 0x40 || at + cap.Length > 0x100 || (at & 3) != 0)
                throw new InvalidOperationException($"{Name}: {cap.Name} does not fit in the legacy capability area at 0x{at:x2}");
            CheckOverlap(cap, at);
            cap.Install(this, at);
            c.Define(at, 1, cap.Id);
            c.Define(at + 1, 1, 0);
            if (prev == null) c.Define(PciRegs.CapabilitiesPointer, 1, (uint)at);
            else c.Define(prev.Offset + 1, 1, (uint)at);
            prev = cap;
            next = Math.Max(next, at + cap.Length);
        }
        if (prev == null) c.Define(PciRegs.CapabilitiesPointer, 1, 0);

        next = PciRegs.ExtendedCapabilities;
        prev = null;
        foreach (var cap in _capabilities.Where(x => x.IsExtended))
        {
            int at = cap.PreferredOffset != 0 ? cap.PreferredOffset : next;
            if (at < 0x100 || at + cap.Length > ConfigSpace.Size || (at & 3) != 0)
                throw new InvalidOperationException($"{Name}: {cap.Name} does not fit in extended config space at 0x{at:x3}");
            if (prev == null && at != PciRegs.ExtendedCapabilities)
                throw new InvalidOperationException($"{Name}: the first extended capability must sit at 0x100 (§7.6.3)");
            CheckOverlap(cap, at);
            cap.Install(this, at);
            c.Define(at, 4, (uint)cap.Id | (uint)cap.Version << 16);
            if (prev != null)
            {
                uint h = c.Read32(prev.Offset);
                c.Define(prev.Offset, 4, (h & 0xFFFFF) | (uint)at << 20);
            }
            prev = cap;
            next = Math.Max(next, at + cap.Length);
        }
    }

    void CheckOverlap(PciCapability cap, int at)
    {
        foreach (var other in _capabilities)
            if (other != cap && other.Offset != 0 && at < other.Offset + other.Length && other.Offset < at + cap.Length)
                throw new InvalidOperationException($"{Name}: {cap.Name} at 0x{at:x} overlaps {other.Name} at 0x{other.Offset:x}");
    }

    /// <summary>Sets the Header Type multi-function bit (bit 7) as a hardware-initialised value.</summary>
    public void SetMultiFunction(bool on)
    {
        uint v = (Config.Read8(PciRegs.HeaderType) & 0x7Fu) | (on ? 0x80u : 0);
        Config.SetRaw(PciRegs.HeaderType, 1, v);
        Config.SetResetValue(PciRegs.HeaderType, 1, v);
    }

    public PciCommand Command => (PciCommand)Config.Read16(PciRegs.Command);
    public bool MemorySpaceEnabled => (Command & PciCommand.MemorySpace) != 0;
    public bool IoSpaceEnabled => (Command & PciCommand.IoSpace) != 0;
    public bool BusMasterEnabled => (Command & PciCommand.BusMaster) != 0;

    /// <summary>Sets a Status bit from the device side (e.g. Received Master Abort).</summary>
    public void RaiseStatus(PciStatus bits) => Config.SetBits(PciRegs.Status, 2, (uint)bits, true);

    /// <summary>
    /// The address a BAR currently holds (including the upper half of a 64-bit BAR). Virtual so that an
    /// SR-IOV VF, whose BAR registers read 0, can report the address its PF's VF BAR assigns it.
    /// </summary>
    public virtual ulong BarAddress(int index)
    {
        var b = _bars[index];
        if (b == null) return 0;
        uint lo = Config.Read32(PciRegs.Bar0 + 4 * index);
        ulong addr = b.Kind == BarKind.Io ? lo & ~0x3u : lo & ~0xFu;
        if (b.Is64Bit) addr |= (ulong)Config.Read32(PciRegs.Bar0 + 4 * index + 4) << 32;
        return addr;
    }

    /// <summary>Whether memory memory space is decoded for this function (VFs override: VF MSE).</summary>
    protected virtual bool MemoryDecodeEnabled => MemorySpaceEnabled;

    /// <summary>
    /// Does a memory request at <paramref name="address"/> hit one of this function's enabled memory
    /// BARs? Allocation-free; called on every routed memory TLP.
    /// </summary>
    public bool TryDecodeMemory(ulong address, out int bar, out ulong offset) =>
        TryDecode(address, MemoryDecodeEnabled, io: false, out bar, out offset);

    /// <summary>Does an I/O request at <paramref name="address"/> hit one of this function's enabled I/O BARs?</summary>
    public bool TryDecodeIo(ulong address, out int bar, out ulong offset) =>
        TryDecode(address, IoSpaceEnabled, io: true, out bar, out offset);

    bool TryDecode(ulong address, bool enabled, bool io, out int bar, out ulong offset)
    {
        if (enabled)
        {
            for (int i = 0; i < _bars.Length; i++)
            {
                var b = _bars[i];
                if (b == null || (io ? b.Kind != BarKind.Io : !b.IsMemory)) continue;
                ulong baseAddr = BarAddress(i);
                if (baseAddr != 0 && address >= baseAddr && address - baseAddr < b.Size)
                {
                    bar = i;
                    offset = address - baseAddr;
                    return true;
                }
            }
        }
        bar = -1;
        offset = 0;
        return false;
    }

    /// <summary>A memory read that hit BAR <paramref name="bar"/> at <paramref name="offset"/>.</summary>
    public virtual void BarRead(int bar, ulong offset, Span<byte> data)
    {
        foreach (ref readonly var r in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_regions))
            if (r.Bar == bar && offset >= r.Offset && offset - r.Offset + (ulong)data.Length <= r.Length)
            {
                r.Handler.Read(offset - r.Offset, data);
                return;
            }
        data.Clear(); // unclaimed BAR space reads as zero
    }

    /// <summary>A memory write that hit BAR <paramref name="bar"/> at <paramref name="offset"/>.</summary>
    public virtual void BarWrite(int bar, ulong offset, ReadOnlySpan<byte> data)
    {
        foreach (ref readonly var r in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_regions))
            if (r.Bar == bar && offset >= r.Offset && offset - r.Offset + (ulong)data.Length <= r.Length)
            {
                r.Handler.Write(offset - r.Offset, data);
                return;
            }
        // unclaimed BAR space: writes are dropped
    }

    /// <summary>
    /// Function Level Reset (§6.6.2): config space back to defaults except sticky bits, every
    /// capability and the device's internal state reset. The Bdf is kept (it is where the function sits).
    /// </summary>
    public void FunctionLevelReset() => Reset(ResetKind.FunctionLevel);

    public void Reset(ResetKind kind)
    {
        uint headerType = Config.Read8(PciRegs.HeaderType);
        Config.Reset(includeSticky: kind == ResetKind.Fundamental);
        Config.SetRaw(PciRegs.HeaderType, 1, headerType);
        foreach (var c in _capabilities) c.OnReset(kind);
        OnReset(kind);
    }

    /// <summary>Device-specific reset of internal state (queues, registers in BARs).</summary>
    protected virtual void OnReset(ResetKind kind) { }

    void IConfigWriteObserver.OnConfigWrite(ConfigSpace config, int offset, int width, uint oldValue, uint written)
    {
        OnHeaderWrite(offset, width, oldValue, written);
        // Capabilities whose behaviour depends on Command (MSI/MSI-X need Bus Master Enable) hear about changes.
        if (offset < PciRegs.Command + 2 && offset + width > PciRegs.Command)
        {
            uint now = Config.Read16(PciRegs.Command), before = now;
            for (int i = 0; i < width; i++)
            {
                int sh = (offset + i - PciRegs.Command) * 8;
                if (sh is 0 or 8) before = (before & ~(0xFFu << sh)) | ((oldValue >> (8 * i)) & 0xFF) << sh;
            }
            if (before != now)
                foreach (var c in _capabilities) c.OnCommandChanged((PciCommand)before, (PciCommand)now);
        }
    }

    /// <summary>Called after a write to the first 64 bytes (header).</summary>
    protected virtual void OnHeaderWrite(int offset, int width, uint oldValue, uint written) { }

    void EnsureNotSealed()
    {
        if (_sealed) throw new InvalidOperationException($"{Name}: the function's layout is sealed");
    }

    public override string ToString() => $"{Bdf} {Name}";
}
