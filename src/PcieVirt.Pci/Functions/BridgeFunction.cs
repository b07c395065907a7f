using Microsoft.Extensions.Logging;
using PcieVirt.Pci.Config;

namespace PcieVirt.Pci.Functions;

/// <summary>What a Type 1 function is in the PCIe hierarchy (Device/Port Type of its PCIe capability).</summary>
public enum BridgePortKind
{
    RootPort,
    SwitchUpstreamPort,
    SwitchDownstreamPort,
    PciBridge,
}

/// <summary>A decoded address window of a bridge; empty when Base &gt; Limit.</summary>
public readonly record struct AddressWindow(ulong Base, ulong Limit)
{
    public bool IsEnabled => Base <= Limit;
    public bool Contains(ulong address) => address >= Base && address <= Limit;
    public ulong Size => IsEnabled ? Limit - Base + 1 : 0;
}

/// <summary>
/// A function with a Type 1 header (§7.5.1.3): root ports and switch ports. Holds the bus number
/// registers and the I/O, memory and prefetchable windows that decide what it forwards downstream.
/// </summary>
public class BridgeFunction(string name, FunctionIdentity identity, BridgePortKind portKind, ILogger? logger = null)
    : PciFunction(name, identity, logger)
{
    public override int HeaderLayout => 1;
    public BridgePortKind PortKind { get; } = portKind;

    /// <summary>Raised after a write that may change routing (bus numbers, windows, Command, Bridge Control).</summary>
    public event Action<BridgeFunction>? RoutingChanged;

    protected override void LayoutHeader(ConfigSpace c, ref bool decodesIo, ref bool decodesMemory)
    {
        c.Define(PciRegs.PrimaryBus, 1, 0, 0xFF, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.SecondaryBus, 1, 0, 0xFF, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.SubordinateBus, 1, 0, 0xFF, kind: RegisterKind.ReadWrite);
        // I/O window with 32-bit addressing (low nibble 1), 4 KiB granularity (§7.5.1.3.6).
        c.Define(PciRegs.IoBase, 1, 0x01, 0xF0, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.IoLimit, 1, 0x01, 0xF0, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.SecondaryStatus, 2, 0, w1cMask: (uint)PciStatus.ErrorBits, kind: RegisterKind.Write1ToClear);
        // Memory window: 1 MiB granularity, bits 15:4 hold address bits 31:20 (§7.5.1.3.8).
        c.Define(PciRegs.MemoryBase, 2, 0, 0xFFF0, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.MemoryLimit, 2, 0, 0xFFF0, kind: RegisterKind.ReadWrite);
        // Prefetchable window with 64-bit addressing (low nibble 1) (§7.5.1.3.9).
        c.Define(PciRegs.PrefetchableBase, 2, 0x1, 0xFFF0, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.PrefetchableLimit, 2, 0x1, 0xFFF0, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.PrefetchableBaseUpper, 4, 0, 0xFFFF_FFFF, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.PrefetchableLimitUpper, 4, 0, 0xFFFF_FFFF, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.IoBaseUpper, 2, 0, 0xFFFF, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.IoLimitUpper, 2, 0, 0xFFFF, kind: RegisterKind.ReadWrite);
        c.Define(PciRegs.BridgeControl, 2, 0,
            (uint)(BridgeControl.ParityErrorResponse | BridgeControl.SerrEnable | BridgeControl.IsaEnable
                | BridgeControl.VgaEnable | BridgeControl.Vga16Bit | BridgeControl.SecondaryBusReset),
            kind: RegisterKind.ReadWrite);
        decodesIo = true;
        decodesMemory = true;
    }

    public byte PrimaryBus => Config.Read8(PciRegs.PrimaryBus);
    public byte SecondaryBus => Config.Read8(PciRegs.SecondaryBus);
    public byte SubordinateBus => Config.Read8(PciRegs.SubordinateBus);

    /// <summary>True when <paramref name="bus"/> lies in [Secondary, Subordinate]: Type 1 requests go below.</summary>
    public bool ClaimsBus(int bus)
    {
        var c = Config.Bytes;
        return bus >= c[PciRegs.SecondaryBus] && bus <= c[PciRegs.SubordinateBus];
    }

    public AddressWindow IoWindow
    {
        get
        {
            ulong b = (ulong)(Config.Read8(PciRegs.IoBase) & 0xF0) << 8 | (ulong)Config.Read16(PciRegs.IoBaseUpper) << 16;
            ulong l = (ulong)(Config.Read8(PciRegs.IoLimit) & 0xF0) << 8 | 0xFFF | (ulong)Config.Read16(PciRegs.IoLimitUpper) << 16;
            return new AddressWindow(b, l);
        }
    }

    public AddressWindow MemoryWindow
    {
        get
        {
            ulong b = (ulong)(Config.Read16(PciRegs.MemoryBase) & 0xFFF0) << 16;
            ulong l = (ulong)(Config.Read16(PciRegs.MemoryLimit) & 0xFFF0) << 16 | 0xF_FFFF;
            return new AddressWindow(b, l);
        }
    }

    public AddressWindow PrefetchableWindow
    {
        get
        {
            ulong b = (ulong)(Config.Read16(PciRegs.PrefetchableBase) & 0xFFF0) << 16 | (ulong)Config.Read32(PciRegs.PrefetchableBaseUpper) << 32;
            ulong l = (ulong)(Config.Read16(PciRegs.PrefetchableLimit) & 0xFFF0) << 16 | 0xF_FFFF | (ulong)Config.Read32(PciRegs.PrefetchableLimitUpper) << 32;
            return new AddressWindow(b, l);
        }
    }

    /// <summary>
    /// Does this bridge forward a memory request at <paramref name="address"/> downstream? Needs
    /// Memory Space Enable and a hit in the memory or prefetchable window (§7.5.1.1.3, §7.5.1.3.8-9).
    /// </summary>
    public bool ForwardsMemory(ulong address) =>
        MemorySpaceEnabled && (MemoryWindow.Contains(address) || PrefetchableWindow.Contains(address));

    public bool ForwardsIo(ulong address) => IoSpaceEnabled && IoWindow.Contains(address);

    /// <summary>Programs the memory window to [base, limit] (1 MiB aligned); an empty range disables it.</summary>
    public void SetMemoryWindow(ulong baseAddr, ulong limit) => Apply(WindowRegisters.Memory(baseAddr, limit));

    /// <summary>Programs the prefetchable window (64-bit) to [base, limit]; an empty range disables it.</summary>
    public void SetPrefetchableWindow(ulong baseAddr, ulong limit) => Apply(WindowRegisters.Prefetchable(baseAddr, limit));

    /// <summary>Programs the I/O window (32-bit I/O addressing) to [base, limit]; an empty range disables it.</summary>
    public void SetIoWindow(ulong baseAddr, ulong limit) => Apply(WindowRegisters.Io(baseAddr, limit));

    void Apply(WindowRegisters w)
    {
        foreach (var r in w.Writes) Config.Write(r.Offset, r.Width, r.Value);
    }

    /// <summary>A reset clears bus numbers and windows without a config write, so routing must hear of it too.</summary>
    protected override void OnReset(PcieVirt.Pci.Capabilities.ResetKind kind)
    {
        base.OnReset(kind);
        RoutingChanged?.Invoke(this);
    }

    /// <summary>Tells the fabric that routing through this bridge may have changed (e.g. its link went down).</summary>
    public void NotifyRoutingChanged() => RoutingChanged?.Invoke(this);

    protected override void OnHeaderWrite(int offset, int width, uint oldValue, uint written)
    {
        if (offset is >= 0x18 and < 0x34 || offset == PciRegs.Command || (offset & ~3) == 0x3C)
            RoutingChanged?.Invoke(this);
    }
}

/// <summary>One register write of a bridge window: offset, width and value.</summary>
public readonly record struct RegisterWrite(int Offset, int Width, uint Value);

/// <summary>
/// The register writes that program a bridge window to [base, limit] (§7.5.1.3.6–9): base and limit
/// registers hold the upper address bits at the window's granularity (4 KiB for I/O, 1 MiB for
/// memory); a window is off when its base is above its limit. Used by firmware (as config TLPs) and
/// by tests (directly), so the encoding lives in one place.
/// </summary>
public readonly struct WindowRegisters
{
    WindowRegisters(RegisterWrite[] writes) => Writes = writes;

    public IReadOnlyList<RegisterWrite> Writes { get; }

    public static WindowRegisters Io(ulong baseAddr, ulong limit) => limit < baseAddr
        ? new([new(PciRegs.IoBase, 1, 0xF0), new(PciRegs.IoLimit, 1, 0), new(PciRegs.IoBaseUpper, 2, 0), new(PciRegs.IoLimitUpper, 2, 0)])
        : new([
            new(PciRegs.IoBase, 1, (uint)(baseAddr >> 8) & 0xF0), new(PciRegs.IoLimit, 1, (uint)(limit >> 8) & 0xF0),
            new(PciRegs.IoBaseUpper, 2, (uint)(baseAddr >> 16)), new(PciRegs.IoLimitUpper, 2, (uint)(limit >> 16))]);

    public static WindowRegisters Memory(ulong baseAddr, ulong limit) => limit < baseAddr
        ? new([new(PciRegs.MemoryBase, 2, 0xFFF0), new(PciRegs.MemoryLimit, 2, 0)])
        : new([new(PciRegs.MemoryBase, 2, (uint)(baseAddr >> 16) & 0xFFF0), new(PciRegs.MemoryLimit, 2, (uint)(limit >> 16) & 0xFFF0)]);

    public static WindowRegisters Prefetchable(ulong baseAddr, ulong limit) => limit < baseAddr
        ? new([
            new(PciRegs.PrefetchableBase, 2, 0xFFF0), new(PciRegs.PrefetchableLimit, 2, 0),
            new(PciRegs.PrefetchableBaseUpper, 4, 0), new(PciRegs.PrefetchableLimitUpper, 4, 0)])
        : new([
            new(PciRegs.PrefetchableBase, 2, (uint)(baseAddr >> 16) & 0xFFF0), new(PciRegs.PrefetchableLimit, 2, (uint)(limit >> 16) & 0xFFF0),
            new(PciRegs.PrefetchableBaseUpper, 4, (uint)(baseAddr >> 32)), new(PciRegs.PrefetchableLimitUpper, 4, (uint)(limit >> 32))]);
}
