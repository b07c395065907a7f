using BenchmarkDotNet.Attributes;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Benchmarks;

/// <summary>
/// Host configuration accesses through the full path: ECAM address decode, Type 1 routing through a
/// root port, a switch upstream port and a downstream port, Type 0 delivery to the endpoint, and the
/// register's mask semantics. Logging is off (the Trace check is part of the path).
/// </summary>
[MemoryDiagnoser]
public class ConfigAccessBenchmarks
{
    RootComplex _rc = null!;
    ulong _vendorId;
    ulong _interruptLine;
    ulong _absent;
    PciAddress _endpoint;

    [GlobalSetup]
    public void Setup()
    {
        _rc = new RootComplex(new RootComplexOptions { Name = "bench" });
        var rp = _rc.AddRootPort(1, 0, BenchFabric.Bridge("rp", BridgePortKind.RootPort));
        var sw = rp.ConnectSwitch(BenchFabric.Bridge("usp", BridgePortKind.SwitchUpstreamPort));
        var dsp = sw.AddDownstreamPort(0, 0, BenchFabric.Bridge("dsp", BridgePortKind.SwitchDownstreamPort));
        var ep = BenchFabric.Endpoint("ep", 0x1000);
        dsp.ConnectDevice(ep);
        BenchFabric.Buses(_rc, rp.Function, 0, 1, 3);
        BenchFabric.Buses(_rc, sw.UpstreamPort, 1, 2, 3);
        BenchFabric.Buses(_rc, dsp.Function, 2, 3, 3);
        _vendorId = _rc.EcamAddress(new Bdf(3, 0, 0), PciRegs.VendorId);
        _interruptLine = _rc.EcamAddress(new Bdf(3, 0, 0), PciRegs.InterruptLine);
        _absent = _rc.EcamAddress(new Bdf(3, 0, 1), PciRegs.VendorId);
        _endpoint = new PciAddress(0, new Bdf(3, 0, 0));
        if (_rc.EcamRead(_vendorId, 4, out uint id) != CompletionStatus.SuccessfulCompletion || (ushort)id != 0x1B36)
            throw new InvalidOperationException("benchmark fabric is not routed");
    }

    [Benchmark(Description = "ECAM read32, endpoint behind RP + switch")]
    public uint EcamRead32()
    {
        _rc.EcamRead(_vendorId, 4, out uint v);
        return v;
    }

    [Benchmark(Description = "ECAM write32 (masked), endpoint behind RP + switch")]
    public CompletionStatus EcamWrite32() => _rc.EcamWrite(_interruptLine, 4, 0xFFFF_FF0B);

    [Benchmark(Description = "IConfigAccessor read16")]
    public uint AccessorRead16()
    {
        _rc.Read(_endpoint, PciRegs.DeviceId, 2, out uint v);
        return v;
    }

    [Benchmark(Description = "ECAM read32 of an absent function (UR)")]
    public uint EcamReadUnsupported()
    {
        _rc.EcamRead(_absent, 4, out uint v);
        return v;
    }
}

/// <summary>Builders shared by the fabric benchmarks.</summary>
internal static class BenchFabric
{
    public static BridgeFunction Bridge(string name, BridgePortKind kind)
    {
        var b = new BridgeFunction(name, new FunctionIdentity { VendorId = 0x8086, DeviceId = 0x7000, ClassCode = 0x060400 }, kind);
        b.AddCapability(new MinimalPcieCapability(kind switch
        {
            BridgePortKind.RootPort => 0x4,
            BridgePortKind.SwitchUpstreamPort => 0x5,
            _ => 0x6,
        }));
        b.Seal();
        return b;
    }

    public static EndpointFunction Endpoint(string name, ushort deviceId, params BarDefinition[] bars)
    {
        var f = new EndpointFunction(name, new FunctionIdentity { VendorId = 0x1B36, DeviceId = deviceId, ClassCode = 0x010802, InterruptPin = 1 });
        foreach (var b in bars) f.DefineBar(b);
        f.AddCapability(new MinimalPcieCapability(0x0));
        f.Seal();
        return f;
    }

    public static void Buses(RootComplex rc, PciFunction bridge, int primary, int secondary, int subordinate) =>
        rc.Write(new PciAddress(0, bridge.Bdf), PciRegs.PrimaryBus, 4, (uint)(subordinate << 16 | secondary << 8 | primary));

    /// <summary>Device/Port Type and Device Status only: enough for firmware to know a downstream port.</summary>
    sealed class MinimalPcieCapability(int portType) : PcieVirt.Pci.Capabilities.PciStandardCapability
    {
        public override ushort Id => 0x10;
        public override int Length => 0x3C;
        public override string Name => "PCI Express (benchmark stub)";

        protected override void Layout(ConfigSpace config, int offset)
        {
            Def(0x02, 2, (uint)(portType << 4 | 0x2));
            Def(0x0A, 2, 0, w1c: 0xF);
        }
    }
}
