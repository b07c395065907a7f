using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;
using PcieVirt.Platform.Building;
using PcieVirt.Platform.Model;
using Log = PcieVirt.Platform.Building.Log;

namespace PcieVirt.Platform;

/// <summary>
/// One host: its root complex and what its firmware found at enumeration. As an
/// <see cref="IConfigAccessor"/> it is what host software sees: config through ECAM, plus the BAR
/// sizes the firmware discovered (as Linux publishes them in sysfs).
/// </summary>
public sealed partial class HostSystem : IConfigAccessor
{
    readonly ILogger _log;
    Dictionary<PciAddress, SizedResources> _resources = [];

    internal HostSystem(HostModel model, RootComplex rootComplex, ILogger log)
    {
        Model = model;
        RootComplex = rootComplex;
        _log = log;
    }

    public HostModel Model { get; }
    public RootComplex RootComplex { get; }
    public string Name => RootComplex.Name;
    /// <summary>The last enumeration's report, or null before the first.</summary>
    public EnumerationReport? Enumeration { get; private set; }

    /// <summary>Runs firmware enumeration (bus numbers, BAR sizing and placement, windows, Command bits).</summary>
    public EnumerationReport Enumerate()
    {
        var report = new FirmwareEnumerator(RootComplex, null, _log).Enumerate();
        Enumeration = report;
        _resources = BuildResources(report);
        OnEnumerated(report);
        Log.Enumerated(_log, Name, report.Functions.Count, RootComplex.StartBus, report.LastBus, report.Failures.Count);
        foreach (var f in report.Failures) Log.EnumerationFailure(_log, Name, f.ToString());
        return report;
    }

    /// <summary>
    /// What firmware sized, per function: each BAR's size and flag bits (memory type, prefetchable,
    /// I/O) and the config offset of its register, so <see cref="Describe"/> can report the range
    /// where the function decodes now.
    /// </summary>
    sealed record SizedResources(SizedBar[] Bars, SizedBar Rom);

    readonly record struct SizedBar(int ConfigOffset, ulong Flags, ulong Size, bool Is64Bit);

    static Dictionary<PciAddress, SizedResources> BuildResources(EnumerationReport report)
    {
        var result = new Dictionary<PciAddress, SizedResources>();
        foreach (var f in report.Functions) result[f.Address] = new SizedResources(new SizedBar[6], default);
        foreach (var b in report.Bars)
        {
            if (!b.Assigned || !result.TryGetValue(b.Address, out var res)) continue;
            ulong flags = b.Kind == ResourceKind.Io ? 1u : (b.Is64Bit ? 4u : 0u) | (b.Prefetchable ? 8u : 0u);
            var sized = new SizedBar(b.ConfigOffset, flags, b.Size, b.Is64Bit);
            switch (b.Register)
            {
                case BarRegister.Bar: res.Bars[b.Index] = sized; break;
                case BarRegister.ExpansionRom: result[b.Address] = res with { Rom = sized }; break;
            }
        }
        return result;
    }

    public IReadOnlyList<PciAddress> Functions() => RootComplex.Functions();
    public CompletionStatus Read(PciAddress address, int offset, int width, out uint value) => RootComplex.Read(address, offset, width, out value);
    public CompletionStatus Write(PciAddress address, int offset, int width, uint value) => RootComplex.Write(address, offset, width, value);

    /// <summary>
    /// The BAR and ROM ranges firmware sized, at the address each register holds now. Sizes are what
    /// enumeration found (as Linux keeps them in sysfs); the base is read back from the register on
    /// every call, so a BAR host software moved with setpci is reported where the function decodes
    /// it rather than where firmware first put it (there is no OS here to hold a stale copy).
    /// </summary>
    public FunctionInfo? Describe(PciAddress address)
    {
        if (!_resources.TryGetValue(address, out var sized)) return DescribeVirtualFunction(address);
        // The function's registers are read directly, not by config TLPs: this is the host's own
        // bookkeeping, and --trace should show only the requests tools send.
        if (address.Segment != RootComplex.Segment || RootComplex.FindFunction(address.Bdf) is not { } function) return null;
        var config = function.Config;
        var bars = new BarResource[6];
        for (int i = 0; i < bars.Length; i++)
            if (sized.Bars[i].Size != 0) bars[i] = Current(config, sized.Bars[i], isRom: false);
        var rom = sized.Rom.Size != 0 ? Current(config, sized.Rom, isRom: true) : default;
        return new FunctionInfo(bars, rom);
    }

    static BarResource Current(Pci.Config.ConfigSpace config, SizedBar bar, bool isRom)
    {
        uint lower = config.Read32(bar.ConfigOffset);
        ulong @base;
        if (isRom) @base = lower & ~0x7FFu; // address bits 31:11; bit 0 is the enable (§7.5.1.2.4)
        else if ((bar.Flags & 1) != 0) @base = lower & ~3u;
        else
        {
            @base = lower & ~0xFu;
            if (bar.Is64Bit) @base |= (ulong)config.Read32(bar.ConfigOffset + 4) << 32;
        }
        return new BarResource(@base | (isRom ? 0 : bar.Flags), bar.Size);
    }
}
