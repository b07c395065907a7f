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
    Dictionary<PciAddress, FunctionInfo> _resources = [];

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

    static Dictionary<PciAddress, FunctionInfo> BuildResources(EnumerationReport report)
    {
        var bars = new Dictionary<PciAddress, BarResource[]>();
        var roms = new Dictionary<PciAddress, BarResource>();
        foreach (var f in report.Functions) bars[f.Address] = new BarResource[6];
        foreach (var b in report.Bars)
        {
            if (!b.Assigned) continue;
            ulong flags = b.Kind == ResourceKind.Io ? 1u : (b.Is64Bit ? 4u : 0u) | (b.Prefetchable ? 8u : 0u);
            var res = new BarResource(b.Base | flags, b.Size);
            switch (b.Register)
            {
                case BarRegister.Bar when bars.TryGetValue(b.Address, out var arr): arr[b.Index] = res; break;
                case BarRegister.ExpansionRom: roms[b.Address] = new BarResource(b.Base, b.Size); break;
            }
        }
        var result = new Dictionary<PciAddress, FunctionInfo>();
        foreach (var (addr, arr) in bars)
            result[addr] = new FunctionInfo(arr, roms.GetValueOrDefault(addr));
        return result;
    }

    public IReadOnlyList<PciAddress> Functions() => RootComplex.Functions();
    public CompletionStatus Read(PciAddress address, int offset, int width, out uint value) => RootComplex.Read(address, offset, width, out value);
    public CompletionStatus Write(PciAddress address, int offset, int width, uint value) => RootComplex.Write(address, offset, width, value);
    public FunctionInfo? Describe(PciAddress address) => _resources.GetValueOrDefault(address) ?? DescribeVirtualFunction(address);
}
